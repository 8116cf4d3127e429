#!/usr/bin/env bash
# Builds the fuzz targets with AddressSanitizer (+UBSan) and runs each for a time budget.
#   bash tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET=200] [ENGINE=mutate|libfuzzer]
# The harnesses are LLVMFuzzerTestOneInput functions. LibTorch 1.13's headers do not compile
# with clang 14/16 in C++23 mode and Debian's AFL++ GCC plugin refuses Debian's GCC 12.2, so
# the default engine is GCC + sanitizers + tests/fuzz/mutation_driver.cpp (blind mutation,
# not coverage-guided); `libfuzzer` is kept for a toolchain that can build it.
# Seed corpora: the real DICOM files under $LUCENT_DATA/dicom (< 512 KiB each), the NIfTI files
# under mricron_ch2_aal (decompressed, first 64 KiB) and the MedMNIST .npz.
# A finding aborts the target; its input is build-fuzz/findings/<target>/current-input.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-200}
ENGINE=${2:-mutate}
DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
bash scripts/setup.sh --fuzz
if [ "$ENGINE" = libfuzzer ]; then cc=clang-16; cxx=clang++-16; else cc=gcc; cxx=g++; fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLUCENT_FUZZ=ON \
  -DLUCENT_FUZZ_ENGINE="$ENGINE" -DCMAKE_C_COMPILER=$cc -DCMAKE_CXX_COMPILER=$cxx >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_dicom_reader fuzz_nifti_reader fuzz_npz_reader

corpus=build-fuzz/corpus
rm -rf "$corpus"; mkdir -p "$corpus"/{dicom,nifti,npz}
find "$DATA/dicom" -type f -name '*.dcm' -size -512k -exec cp -t "$corpus/dicom" {} + 2>/dev/null || true
for f in "$DATA"/mricron_ch2_aal/*.nii.gz; do
  { gunzip -c "$f" 2>/dev/null || true; } | head -c 65536 > "$corpus/nifti/$(basename "$f" .gz)"
done
cp "$DATA"/medmnist/breastmnist.npz "$corpus/npz/" 2>/dev/null || true

export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for target in dicom_reader nifti_reader npz_reader; do
  case $target in dicom_reader) c=dicom;; nifti_reader) c=nifti;; npz_reader) c=npz;; esac
  bin=build-fuzz/tests/fuzz/fuzz_$target
  out=build-fuzz/findings/$target
  rm -rf "$out"; mkdir -p "$out"
  echo "== fuzz_$target ($ENGINE) for ${SECONDS_PER_TARGET}s, seeds: $(ls "$corpus/$c" | wc -l)"
  if [ "$ENGINE" = libfuzzer ]; then
    "$bin" "$out" "$corpus/$c" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=4096 -timeout=25 \
      -artifact_prefix="$out/" -print_final_stats=1 2>&1 | tail -15 || status=1
  else
    if ! "$bin" "$corpus/$c" "$out" "$SECONDS_PER_TARGET" 2>&1 | tail -25; then
      echo "FINDING in fuzz_$target: reproducer $out/current-input"; status=1
    fi
  fi
done
exit $status
