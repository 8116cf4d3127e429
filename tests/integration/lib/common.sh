# Sourced by integration scripts: locates the binary and the data, and offers small helpers.
set -uo pipefail
LUCENT_BIN=${LUCENT_BIN:?LUCENT_BIN must point at the lucent binary}
DATA=${LUCENT_DATA:-${LUCENT_TEST_DATA_DEFAULT:-}}
skip() { echo "SKIP: $*"; exit 77; }
[ -d "$DATA/dicom" ] || skip "data folder '$DATA' has no dicom/ (set LUCENT_DATA)"
WORK=$(mktemp -d /tmp/lucent-it.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0
pass() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; failures=$((failures + 1)); }
finish() { echo "$failures failure(s)"; [ "$failures" -eq 0 ]; exit $?; }
