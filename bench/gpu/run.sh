#!/usr/bin/env bash
# The GPU checks and benchmark, in one call on the GPU machine (CUDA, CMake, g++, pip PyTorch;
# no Debian packages, no network). From the repository root, with gpu-carry/ from
# bench/gpu/prepare.sh beside the sources:
#   OUT=/tmp/gpu-out bash bench/gpu/run.sh
# 1. builds Lucent with -DLUCENT_TORCH_ONLY=ON against pip PyTorch's LibTorch (CUDA) and the
#    carried Debian libraries (unpacked with dpkg -x);
# 2. runs the unit tests that work without the imaging stack, the CUDA ones included (AmpCuda.*);
# 3. speed, Lucent vs PyTorch on the same GPU, REPEATS times alternately (ABBA): the
#    PneumoniaMNIST recipe's model and batch, training img/s of the last of 3 epochs (fp32 and
#    bf16 autocast) and inference img/s (bench/train_peer/pytorch_peer.py is the peer);
# 4. sliding-window segmentation, Lucent vs PyTorch on the same GPU: a CT-sized 300x512x512
#    volume, a 3-D U-Net (width 32, depth 4), 128^3 windows, overlap 0.5 (bench/seg_infer_bench.cpp
#    prepare --case ct; peer bench/seg_peer/sliding_window_peer.py --device cuda);
# 5. the full PneumoniaMNIST recipe with --device cuda --set train.amp=auto (test AUC/ACC).
# Before the CUDA steps it checks the crash of earlier runs (docs/benchmarks-gpu.md): which
# library the std::filesystem symbols bind to (LD_DEBUG=bindings), the core unit tests, and on a
# crash a backtrace (a small LD_PRELOAD signal handler) and the same tests with libstdc++
# preloaded; when only the preloaded run passes, every later Lucent run is preloaded and the
# summary says so.
# Everything goes to $OUT (summary.txt, logs, results.jsonl); each step has a time limit, and
# steps are skipped once DEADLINE seconds have passed, so a slow step still leaves the earlier
# results. Prints the summary at the end. Asserts nothing about speed.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/lucent-gpu-out}
CARRY=${CARRY:-gpu-carry}
BUILD=${BUILD:-build-gpu}
PY=${PY:-python3}
REPEATS=${REPEATS:-1}
INFER_SPLIT=${INFER_SPLIT:-train}         # inference is timed on this split (train: 4,708 images)
DEADLINE=${DEADLINE:-540}                 # seconds; later steps are skipped after this
THREADS=${THREADS:-$(nproc)}
WORKERS=${WORKERS:-8}
SKIP_RECIPE=${SKIP_RECIPE:-0}
SKIP_SEG=${SKIP_SEG:-0}                   # 1: no sliding-window comparison
UNIT_OTHERS=${UNIT_OTHERS:-1}             # 0: only the CUDA unit tests
WORK=${WORK:-/tmp/lucent-gpu-work}        # run folders (not copied back)
mkdir -p "$WORK"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
log() { echo "[$(date -u +%T)] $*" | tee -a "$SUMMARY"; }
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
# have_time N STEP: true when N more seconds fit before DEADLINE; otherwise logs the skip.
have_time() {
  if [ $(( $(elapsed) + $1 )) -le "$DEADLINE" ]; then return 0; fi
  log "skipped: $2 (needs ~$1 s, $(elapsed) s of $DEADLINE used)"; return 1
}
PRELOAD=""                                # set below if only a libstdc++-first run works
# timed FILE CMD…: runs CMD, writes "wall_s peak_rss_kib" (of the child) to FILE, keeps its exit status.
timed() {
  local file=$1; shift
  "$PY" -c 'import resource, subprocess, sys, time
t = time.time(); rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%.2f %d\n" % (time.time() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)' "$file" "$@"
}

# --- 1. environment ----------------------------------------------------------------------------
log "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(. /etc/os-release; echo "$PRETTY_NAME"); $(g++ --version | head -1); $(cmake --version | head -1)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$SUMMARY"
"$PY" - >>"$SUMMARY" 2>&1 <<'PYEOF'
import importlib.util, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(),
      "cxx11_abi", torch._C._GLIBCXX_USE_CXX11_ABI, "cuda_available", torch.cuda.is_available(),
      "torchvision", importlib.util.find_spec("torchvision") is not None, "numpy", importlib.util.find_spec("numpy") is not None)
PYEOF
tail -1 "$SUMMARY"
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
[ -d "$CARRY/debs" ] || { log "missing $CARRY/debs: run bench/gpu/prepare.sh here and carry $CARRY"; exit 1; }
# pytorch/pytorch#133437: does this LibTorch export libstdc++'s std::filesystem, and how (T strong, W weak)?
fs_syms=$(nm -D --defined-only "$TORCH_LIB/libtorch_cpu.so" 2>/dev/null |
  awk '$3 ~ /^_ZN?K?St10filesystem/ { n[$2]++ } END { for (t in n) printf "%s: %d  ", t, n[t] }')
log "libtorch_cpu.so exports std::filesystem symbols (type: count): ${fs_syms:-none}"

# --- 2. dependencies from the carried .deb files ---------------------------------------------------
ROOT="$PWD/$BUILD-deps"
rm -rf "$ROOT"; mkdir -p "$ROOT"
for d in "$CARRY"/debs/*.deb; do dpkg -x "$d" "$ROOT" || { log "dpkg -x $d failed"; exit 1; }; done
# zlib1g-dev's libz.so points at /lib/...; point it at the unpacked copy.
ln -sf ../../../lib/x86_64-linux-gnu/libz.so.1 "$ROOT/usr/lib/x86_64-linux-gnu/libz.so"
export LD_LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The report's JavaScript (no npm there): copied where cmake/ReportAssets.cmake looks for it.
if [ ! -d web/report/node_modules ] && [ -d "$CARRY/web/report/node_modules" ]; then
  cp -r "$CARRY/web/report/node_modules" web/report/
fi

# --- 3. build ------------------------------------------------------------------------------------
GEN="Unix Makefiles"; command -v ninja >/dev/null && GEN=Ninja
log "configure ($GEN)"
if ! TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} cmake -S . -B "$BUILD" -G "$GEN" -DCMAKE_BUILD_TYPE=Release \
      -DLUCENT_TORCH_ONLY=ON -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$ROOT/usr" -DOPENSSL_ROOT_DIR="$ROOT/usr" \
      -DZLIB_ROOT="$ROOT/usr" -DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=BOTH -DCMAKE_EXE_LINKER_FLAGS=-rdynamic \
    >"$OUT/configure.log" 2>&1; then
  log "configure failed (tail of configure.log):"; tail -40 "$OUT/configure.log"; exit 1
fi
TARGETS="lucent lucent_infer_bench lucent_seg_infer_bench lucent_train_tests lucent_core_tests lucent_infer_tests"
[ "$UNIT_OTHERS" = 1 ] && TARGETS="$TARGETS lucent_nets_tests lucent_transforms_tests lucent_metrics_tests"
log "build: $TARGETS"
KEEP="-k"; [ "$GEN" = Ninja ] && KEEP="-k 0"
if ! cmake --build "$BUILD" -j "$(nproc)" --target $TARGETS -- $KEEP >"$OUT/build.log" 2>&1; then
  log "build failed after $(elapsed) s; errors:"
  grep -E "error|Error" "$OUT/build.log" | head -40 | tee -a "$SUMMARY"
  [ -x "$BUILD/lucent" ] || exit 1
  log "lucent itself built: going on with what did build"
fi
log "built in $(elapsed) s"

# --- 3b. the crash of earlier runs: bindings, core tests, backtrace, libstdc++ preloaded ----------------
cat > "$WORK/segv_trace.c" <<'CEOF'
#define _GNU_SOURCE
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>
static void on_fatal(int sig) {
  void* frames[64];
  int n = backtrace(frames, 64);
  static const char msg[] = "\n*** fatal signal; backtrace (segv_trace.so):\n";
  write(2, msg, sizeof msg - 1);
  backtrace_symbols_fd(frames, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}
__attribute__((constructor)) static void install(void) {
  signal(SIGSEGV, on_fatal); signal(SIGBUS, on_fatal); signal(SIGABRT, on_fatal); signal(SIGILL, on_fatal);
}
CEOF
TRACE=""; gcc -shared -fPIC -O1 -o "$WORK/segv_trace.so" "$WORK/segv_trace.c" && TRACE="$WORK/segv_trace.so"
STDCXX=$(g++ -print-file-name=libstdc++.so.6)
log "lucent NEEDED order: $(readelf -d "$BUILD/lucent" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); printf "%s ", $5}')"
CORE="$BUILD/tests/lucent_core_tests"
if [ -x "$CORE" ]; then
  LD_DEBUG=bindings LD_DEBUG_OUTPUT="$WORK/ldbind" timeout 60 "$CORE" --gtest_brief=1 >/dev/null 2>&1
  binds=$(cat "$WORK"/ldbind.* 2>/dev/null | grep -E "St10filesystem" | grep -v "binding file $TORCH_LIB" |
    sed -E 's/.*to ([^ ]+) \[[0-9]+\]: normal symbol `([^'"'"']+).*/\1 \2/')
  log "std::filesystem bindings made while lucent_core_tests ran (count, library): $(echo "$binds" | awk 'NF == 2 {print $1}' |
    sort | uniq -c | tr '\n' ';')"
  log "  of them bound to LibTorch: $(echo "$binds" | awk 'NF == 2 && $1 ~ /libtorch/ {print $2}' | sort -u | head -8 | tr '\n' ' ')"
  rm -f "$WORK"/ldbind.*
  export LUCENT_DATA="$PWD/$CARRY/data"
  if timeout 120 env LD_PRELOAD="$TRACE" "$CORE" --gtest_brief=1 >"$OUT/unit-core.log" 2>&1; then
    log "unit core: $(grep -E '^\[  PASSED' "$OUT/unit-core.log" | tail -1)"
  else
    rc=$?
    log "unit core: FAILED (exit $rc); last lines and backtrace:"
    grep -E "FAILED|Failure|fatal|backtrace|^\S+\(" "$OUT/unit-core.log" | head -40 | tee -a "$SUMMARY"
    if timeout 120 env LD_PRELOAD="$STDCXX:$TRACE" "$CORE" --gtest_brief=1 >"$OUT/unit-core-preload.log" 2>&1; then
      PRELOAD="$STDCXX"
      log "unit core with LD_PRELOAD=$STDCXX: passed → every later Lucent run is preloaded"
    else
      log "unit core with LD_PRELOAD=$STDCXX: also FAILED (exit $?)"
    fi
  fi
fi
# "${LX[@]}" CMD…: a Lucent process, with the backtrace handler, and libstdc++ preloaded when that
# was needed above (or after a crash of the first training run, below).
set_lx() { LX=(env LD_PRELOAD="${PRELOAD:+$PRELOAD:}$TRACE"); }
set_lx

# --- 4. the CUDA unit tests ---------------------------------------------------------------------------
export LUCENT_DATA="$PWD/$CARRY/data"
unit() {  # module gtest-filter time-limit
  local bin="$BUILD/tests/lucent_${1}_tests" xml="$OUT/unit-$1$4.xml"
  [ -x "$bin" ] || { log "unit $1: no binary"; return; }
  have_time "$3" "unit $1 [$2]" || return
  local rc=0
  "${LX[@]}" timeout "$3" "$bin" --gtest_brief=1 --gtest_filter="$2" --gtest_output="xml:$xml" >"$OUT/unit-$1$4.log" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    log "unit $1 [$2]: passed ($(grep -o 'tests="[0-9]*"' "$xml" | head -1), $(grep -c '<skipped' "$xml") skipped)"
  elif [ "$rc" = 77 ]; then  # tests/support/gtest_main.cpp: every test that ran was skipped
    log "unit $1 [$2]: all SKIPPED:"; grep -A1 -E "SKIPPED|Skipped" "$OUT/unit-$1$4.log" | head -6 | tee -a "$SUMMARY"
  else
    log "unit $1 [$2]: FAILED or timed out:"; grep -E "FAILED|Failure|rror" "$OUT/unit-$1$4.log" | head -20 | tee -a "$SUMMARY"
  fi
}
unit infer 'SlidingWindow*' 60 -cuda

# --- 5. speed: Lucent vs PyTorch on this GPU -----------------------------------------------------------
NPZ="$LUCENT_DATA/medmnist/pneumoniamnist.npz"
CONFIG=configs/medmnist/pneumoniamnist.yaml
RESULTS="$OUT/results.jsonl"; : > "$RESULTS"
PEER_FLAGS=""; "$PY" -c 'import torchvision' 2>/dev/null || PEER_FLAGS="--no-torchvision"
run_lucent() {  # rep amp
  local run="$WORK/lucent-$2-$1"
  rm -rf "$run"
  have_time 60 "lucent train ($2, repetition $1)" || return 1
  local attempt
  for attempt in 1 2; do
    rm -rf "$run"
    if timed "$OUT/time.txt" "${LX[@]}" timeout 200 "$BUILD/lucent" train "$CONFIG" --device cuda --threads "$THREADS" \
         --set train.epochs=3 --set train.warmup_epochs=0 --set train.ema_decay=0 --set train.amp="$2" --out "$run" --quiet \
         >"$OUT/lucent-train.log" 2>&1; then
      break
    fi
    log "lucent train ($2) failed:"; grep -vE "^\s*$" "$OUT/lucent-train.log" | tail -25 | tee -a "$SUMMARY"
    if [ "$attempt" = 1 ] && [ -z "$PRELOAD" ] && have_time 60 "retry with libstdc++ preloaded"; then
      PRELOAD="$STDCXX"; set_lx; log "retrying with LD_PRELOAD=$STDCXX (kept for every later Lucent run)"
    else
      return 1
    fi
  done
  read -r wall rss < "$OUT/time.txt"
  "${LX[@]}" timeout 120 "$BUILD/lucent_infer_bench" --bundle "$run/bundle" --data "$NPZ" --split "$INFER_SPLIT" --threads "$THREADS" --batch 256 --repeats 5 \
    --device cuda >"$OUT/infer.json" 2>"$OUT/infer.err" || { log "lucent_infer_bench failed:"; tail -5 "$OUT/infer.err" | tee -a "$SUMMARY"; return 1; }
  "$PY" - "$1" "$2" "$wall" "$rss" "$run/log.jsonl" "$OUT/infer.json" >>"$RESULTS" <<'PYEOF'
import json, sys
rep, amp, wall, rss, log, infer = sys.argv[1:]
epochs = [json.loads(l) for l in open(log) if l.strip()]
inf = json.load(open(infer))
print(json.dumps({"side": "lucent", "amp": amp, "rep": int(rep), "params": inf["params"],
                  "train_img_per_s": epochs[-1]["images_per_s"], "train_img_per_s_epochs": [e["images_per_s"] for e in epochs],
                  "infer_img_per_s": inf["infer_img_per_s"], "peak_rss_mib": int(rss) / 1024, "process_wall_s": float(wall)}))
PYEOF
}
run_pytorch() {  # rep amp
  have_time 40 "pytorch peer ($2, repetition $1)" || return 1
  timed "$OUT/time.txt" timeout 200 "$PY" bench/train_peer/pytorch_peer.py --data "$NPZ" --device cuda \
    --amp "$2" --threads "$THREADS" --workers "$WORKERS" --epochs 3 --batch 128 --infer-batch 256 --infer-repeats 5 --infer-split "$INFER_SPLIT" $PEER_FLAGS \
    >"$OUT/peer.out" 2>"$OUT/peer.err" || { log "pytorch peer ($2) failed:"; tail -5 "$OUT/peer.err" | tee -a "$SUMMARY"; return 1; }
  read -r wall rss < "$OUT/time.txt"
  "$PY" - "$1" "$wall" "$rss" "$OUT/peer.out" >>"$RESULTS" <<'PYEOF'
import json, sys
rep, wall, rss, out = sys.argv[1:]
r = json.loads(open(out).read().strip().splitlines()[-1])
r.update({"rep": int(rep), "peak_rss_mib": int(rss) / 1024, "process_wall_s": float(wall)})
print(json.dumps(r))
PYEOF
}
for rep in $(seq "$REPEATS"); do
  for amp in off bf16; do
    if [ $((rep % 2)) -eq 1 ]; then order="lucent pytorch"; else order="pytorch lucent"; fi
    for side in $order; do "run_$side" "$rep" "$amp"; done
  done
  log "speed repetition $rep done at $(elapsed) s"
done
"$PY" - "$RESULTS" "$THREADS" "$WORKERS" <<'PYEOF' | tee -a "$SUMMARY"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"\nthreads {sys.argv[2]}, peer DataLoader workers {sys.argv[3]}; medians over repetitions; last of 3 epochs")
print("| precision | side | train img/s | infer img/s | peak RSS MiB |")
print("|---|---|---|---|---|")
for amp in ("off", "bf16"):
    med = {}
    for side in ("lucent", "pytorch"):
        rs = [r for r in rows if r["side"] == side and r.get("amp", "off") == amp]
        if not rs:
            continue
        med[side] = {k: statistics.median(r[k] for r in rs) for k in ("train_img_per_s", "infer_img_per_s", "peak_rss_mib")}
        m = med[side]
        print(f"| {'fp32' if amp == 'off' else amp} | {side} | {m['train_img_per_s']:.0f} | {m['infer_img_per_s']:.0f} | {m['peak_rss_mib']:.0f} |")
    if len(med) == 2:
        print(f"| {'fp32' if amp == 'off' else amp} | **Lucent / PyTorch** | {med['lucent']['train_img_per_s'] / med['pytorch']['train_img_per_s']:.2f}x"
              f" | {med['lucent']['infer_img_per_s'] / med['pytorch']['infer_img_per_s']:.2f}x"
              f" | {med['lucent']['peak_rss_mib'] / med['pytorch']['peak_rss_mib']:.2f}x |")
PYEOF

# --- 6. sliding-window segmentation on the GPU: Lucent vs PyTorch on a CT-sized volume -------------------
SEG="$WORK/seg-ct"
if [ "$SKIP_SEG" != 1 ] && [ -x "$BUILD/lucent_seg_infer_bench" ] && have_time 100 "segmentation sliding window (ct)"; then
  rm -rf "$SEG"
  if "${LX[@]}" timeout 60 "$BUILD/lucent_seg_infer_bench" prepare --case ct --out "$SEG" >"$OUT/seg-prepare.json" 2>"$OUT/seg.err"; then
    SEG_REPEATS=${SEG_REPEATS:-3}
    seg_side() {  # side
      if [ "$1" = lucent ]; then
        "${LX[@]}" timeout 150 "$BUILD/lucent_seg_infer_bench" run --dir "$SEG" --device cuda --threads "$THREADS" \
          --repeats "$SEG_REPEATS" >>"$OUT/seg.jsonl" 2>>"$OUT/seg.err" || log "lucent sliding window failed: $(tail -3 "$OUT/seg.err")"
      else
        timeout 150 "$PY" bench/seg_peer/sliding_window_peer.py run --dir "$SEG" --device cuda --threads "$THREADS" \
          --repeats "$SEG_REPEATS" >>"$OUT/seg.jsonl" 2>>"$OUT/seg.err" || log "pytorch sliding window failed: $(tail -3 "$OUT/seg.err")"
      fi
    }
    : > "$OUT/seg.jsonl"
    seg_side lucent; seg_side pytorch
    [ -f "$SEG/lucent_output.safetensors" ] && [ -f "$SEG/torch_output.safetensors" ] &&
      timeout 60 "$PY" bench/seg_peer/sliding_window_peer.py compare "$SEG/lucent_output.safetensors" \
        "$SEG/torch_output.safetensors" >"$OUT/seg-compare.json" 2>>"$OUT/seg.err"
    "$PY" - "$OUT/seg.jsonl" "$OUT/seg-prepare.json" "$OUT/seg-compare.json" <<'PYEOF' | tee -a "$SUMMARY"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
prep = json.load(open(sys.argv[2]))
try:
    cmp = json.load(open(sys.argv[3]))
except Exception:
    cmp = {}
print(f"\nsliding window on the GPU: image {prep['image_size']}, U-Net {prep['net']} ({prep['params']} parameters), "
      f"patch {prep['patch_size']}, overlap {prep['overlap']}, batch {prep['batch_size']}; TF32 off, cuDNN autotuning on")
print("| side | windows | runs (s) | warm median s | GPU peak allocated MiB | process VmHWM MiB |")
print("|---|---|---|---|---|---|")
warm = {}
for r in rows:
    s = r["seconds"]
    warm[r["side"]] = statistics.median(s[1:] if len(s) > 1 else s)
    print(f"| {r['side']} | {r['windows']} | {', '.join(f'{x:.2f}' for x in s)} | {warm[r['side']]:.2f} | "
          f"{r.get('gpu_peak_allocated_bytes', -1) / 2**20:.0f} | {r['vm_hwm_bytes'] / 2**20:.0f} |")
if len(warm) == 2:
    print(f"speed-up (PyTorch s / Lucent s, warm median): {warm['pytorch'] / warm['lucent']:.2f}x; outputs: {json.dumps(cmp)}")
PYEOF
    rm -f "$SEG"/*.safetensors
  else
    log "seg prepare failed: $(tail -3 "$OUT/seg.err")"
  fi
fi

# --- 6b. the CUDA training tests (each precision, resume, the bundle back on the CPU) -------------------
unit train 'Amp*' 150 -cuda

# --- 7. the full recipe on the GPU ---------------------------------------------------------------------
if [ "$SKIP_RECIPE" != 1 ] && have_time 90 "the full recipe"; then
  log "recipe: $CONFIG --device cuda --set train.amp=auto"
  rm -rf "$WORK/recipe"
  if timed "$OUT/recipe-time.txt" "${LX[@]}" timeout "$(( DEADLINE - $(elapsed) < ${RECIPE_TIMEOUT:-240} ? DEADLINE - $(elapsed) : ${RECIPE_TIMEOUT:-240} ))" "$BUILD/lucent" train "$CONFIG" \
       --device cuda --set train.amp=auto --threads "$THREADS" --out "$WORK/recipe" >"$OUT/recipe.log" 2>&1; then
    tail -15 "$OUT/recipe.log" | tee -a "$SUMMARY"; log "recipe wall s, peak RSS KiB: $(cat "$OUT/recipe-time.txt")"
  else
    log "recipe failed or timed out:"; tail -8 "$OUT/recipe.log" | tee -a "$SUMMARY"
  fi
  cp "$WORK/recipe/metrics.json" "$OUT/recipe-metrics.json" 2>/dev/null
fi
# --- 8. the other unit tests (CPU code paths, built against this LibTorch) ---------------------------
if [ "$UNIT_OTHERS" = 1 ]; then
  for m in infer nets transforms metrics; do unit "$m" '*' 45 ""; done
fi

log "done in $(elapsed) s"
# Few files come back from the device machine: the logs go into one archive.
(cd "$OUT" && ls | grep -vE '^(summary.txt|results.jsonl|seg.jsonl|recipe-metrics.json)$' > .logs &&
  tar -czf logs.tgz -T .logs && xargs rm -f < .logs && rm -f .logs)
