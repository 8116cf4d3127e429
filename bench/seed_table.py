#!/usr/bin/python3
"""Mean and standard deviation over seeds of the test metrics of `lucent train` runs.

    bench/seed_table.py runs/pneumoniamnist-seed0 runs/pneumoniamnist-seed1 ...

Reads RUN/metrics.json (written by `lucent train`) and prints a Markdown table: one row per
run (seed, best epoch, test AUC, test ACC, training seconds) and the mean ± sample SD.
"""
import json
import statistics
import sys
from pathlib import Path


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = []
    for run in argv[1:]:
        path = Path(run) / "metrics.json"
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read ({e}); is the run finished?", file=sys.stderr)
            return 4
        rows.append((m["recipe"], m["seed"], m["best_epoch"], m["test"]["auc"], m["test"]["acc"], m["train_seconds"]))
    print("| recipe | seed | best epoch | test AUC | test ACC | train s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.0f} |")
    if len(rows) > 1:
        auc = [r[3] for r in rows]
        acc = [r[4] for r in rows]
        print(f"| **mean ± SD** ({len(rows)} seeds) | | | **{statistics.mean(auc):.3f} ± {statistics.stdev(auc):.3f}** "
              f"| **{statistics.mean(acc):.3f} ± {statistics.stdev(acc):.3f}** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
