#!/usr/bin/env bash
# Fills gpu-carry/ (git-ignored) with what bench/gpu/run.sh needs on the GPU machine, which has
# CUDA, CMake, g++ and pip PyTorch but no Debian packages and no network: the .deb files of the
# small libraries Lucent links besides LibTorch (unpacked there with dpkg -x) and the MedMNIST
# files the checks train on, and the report's JavaScript builds. About 14 MB.
#   bash bench/gpu/prepare.sh      (then carry gpu-carry/ with the run; see docs/benchmarks-gpu.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
CARRY=gpu-carry
PACKAGES="libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev libyaml-cpp-dev
          libyaml-cpp0.7 zlib1g-dev zlib1g libssl-dev libssl3 libgtest-dev"
rm -rf "$CARRY"
mkdir -p "$CARRY/debs" "$CARRY/data/medmnist"
if ! (cd "$CARRY/debs" && apt-get download $PACKAGES); then
  echo "apt-get download failed: run 'apt-get update' (as root) and try again" >&2
  exit 1
fi
for f in pneumoniamnist.npz breastmnist.npz; do
  [ -f "$DATA/medmnist/$f" ] || { echo "missing $DATA/medmnist/$f: set LUCENT_DATA or run 'lucent data fetch medmnist'" >&2; exit 1; }
  cp "$DATA/medmnist/$f" "$CARRY/data/medmnist/"
done
# The report writer inlines Vega, Vega-Lite and vega-embed at build time (cmake/ReportAssets.cmake):
# their builds, package.json and licences (the GPU machine has no npm).
web=web/report/node_modules
[ -d "$web" ] || { echo "missing $web: run scripts/setup.sh first" >&2; exit 1; }
for pkg in vega vega-lite vega-embed; do
  mkdir -p "$CARRY/$web/$pkg/build"
  cp "$web/$pkg/package.json" "$web/$pkg/LICENSE" "$CARRY/$web/$pkg/"
  cp "$web/$pkg/build/$pkg.min.js" "$CARRY/$web/$pkg/build/"
done
du -sh "$CARRY"
