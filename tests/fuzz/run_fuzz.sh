#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 16 + AddressSanitizer and runs each for a time budget.
#   bash tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET=200]
# Seed corpora: the real DICOM files under $LUCENT_DATA/dicom (≤ 1 MiB each), the NIfTI files
# under mricron_ch2_aal (decompressed, truncated to keep inputs small) and the MedMNIST .npz.
# Findings (crash-*, leak-*, oom-*, timeout-*) land in build-fuzz/findings/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-200}
DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
bash scripts/setup.sh --fuzz
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLUCENT_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_dicom_reader fuzz_nifti_reader fuzz_npz_reader

corpus=build-fuzz/corpus
rm -rf "$corpus"; mkdir -p "$corpus"/{dicom,nifti,npz}
find "$DATA/dicom" -type f -name '*.dcm' -size -1M -exec cp -t "$corpus/dicom" {} + 2>/dev/null || true
for f in "$DATA"/mricron_ch2_aal/*.nii.gz; do
  gunzip -c "$f" | head -c 65536 > "$corpus/nifti/$(basename "$f" .gz)"
done
printf 'hdr' > "$corpus/nifti/tiny"
cp "$DATA"/medmnist/breastmnist.npz "$corpus/npz/" 2>/dev/null || true

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=1
status=0
for target in dicom_reader nifti_reader npz_reader; do
  case $target in dicom_reader) c=dicom; max_len=1048576;; nifti_reader) c=nifti; max_len=131072;; npz_reader) c=npz; max_len=1048576;; esac
  mkdir -p "build-fuzz/findings/$target" "build-fuzz/work/$target"
  echo "== fuzz_$target for ${SECONDS_PER_TARGET}s (seeds: $(ls "$corpus/$c" | wc -l))"
  if ! build-fuzz/tests/fuzz/fuzz_$target "build-fuzz/work/$target" "$corpus/$c" \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=$max_len -rss_limit_mb=4096 -malloc_limit_mb=2048 -timeout=25 \
      -artifact_prefix="build-fuzz/findings/$target/" -print_final_stats=1 2>&1 | tail -25; then
    status=1
  fi
  [ -n "$(ls -A "build-fuzz/findings/$target")" ] && { echo "findings in build-fuzz/findings/$target"; status=1; }
done
exit $status
