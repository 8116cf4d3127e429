#!/usr/bin/python3
"""Sums a Chrome trace of LibTorch's profiler per op name (total ms and calls), largest first.

Reads what `lucent_seg_infer_bench window|run --trace FILE` or
`sliding_window_peer.py window --trace FILE` wrote. Nested ops are counted in their parent too,
so the rows do not add up to the wall time.

    /usr/bin/python3 bench/seg_peer/op_table.py TRACE.json [--top 25]
"""
import argparse
import collections
import json
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trace")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    try:
        events = json.load(open(args.trace))
    except (OSError, ValueError) as e:
        print(f"{args.trace}: not a readable Chrome trace ({e})", file=sys.stderr)
        return 1
    if isinstance(events, dict):
        events = events.get("traceEvents", [])
    total, calls = collections.Counter(), collections.Counter()
    for e in events:
        if isinstance(e, dict) and e.get("ph") == "X":
            total[e["name"]] += e.get("dur", 0)
            calls[e["name"]] += 1
    print("| op | total ms | calls |\n|---|---:|---:|")
    for name, us in total.most_common(args.top):
        print(f"| {name} | {us / 1000:.1f} | {calls[name]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
