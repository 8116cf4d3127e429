#!/usr/bin/env bash
# Installs the Debian 12 packages Lucent needs to build, test and benchmark.
# Idempotent: packages already present are skipped by apt; safe to run on every `make`.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-pthread
  libdnnl-dev ocl-icd-opencl-dev  # oneDNN headers (Winograd); its CMake config requires OpenCL, only "recommended"
  libdcmtk-dev dcmtk
  libinsighttoolkit5-dev
  libopenjp2-7-dev libgif-dev libcharls-dev libjpeg-dev zlib1g-dev libpng-dev
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dcm2niix dicom3tools python3-pydicom python3-numpy python3-nibabel
  python3-torch  # scripts the TorchScript model that the bundle-import test wraps
  python3-sklearn  # reference values for the metrics tests
  chromium  # opens report.html headless in tests/integration/metrics_report.sh
)
# Node.js and npm install the report's pinned JavaScript (web/report); a Node.js that brings its
# own npm (e.g. a vendor build) is kept as it is.
command -v npm > /dev/null || PACKAGES+=(nodejs npm)
# Peers used only by the benchmarks (`make bench`): `scripts/setup.sh --bench`.
if [ "${1:-}" = "--bench" ]; then
  PACKAGES+=(libgdcm-tools orthanc hyperfine time bc python3-torchvision)
fi
# The libFuzzer build (`make fuzz`): clang 16 is the first Debian clang whose concepts level
# enables libstdc++'s std::expected.
if [ "${1:-}" = "--fuzz" ]; then
  PACKAGES+=(clang-16 libclang-rt-16-dev libfuzzer-16-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $SUDO apt-get clean  # the downloaded .deb files (~1.6 GB for a first install) are not needed again
fi

# Vega, Vega-Lite and vega-embed, which the build inlines into report.html, and puppeteer-core
# for its browser test: exact versions from web/report/package-lock.json, installed again only
# when the lock file changed since the last install.
web="$(cd "$(dirname "$0")/.." && pwd)/web/report"
if ! cmp -s "$web/package-lock.json" "$web/node_modules/.lucent-installed-lock.json"; then
  echo "setup: npm ci in $web"
  (cd "$web" && npm ci --no-audit --no-fund)
  cp "$web/package-lock.json" "$web/node_modules/.lucent-installed-lock.json"
fi
