#!/usr/bin/env bash
# `lucent data fetch` and `lucent data verify`, offline: MedMNIST is "downloaded" from file://
# copies of the real release files (and from a loopback HTTP server when python3 is there), so
# the checksum, atomic-rename, --force and error paths run on real bytes without the internet.
source "$(dirname "$0")/lib/common.sh"
MED="$DATA/medmnist"
[ -f "$MED/breastmnist.npz" ] && [ -f "$MED/pneumoniamnist.npz" ] || skip "no MedMNIST files in $MED"
[ -d "$DATA/drive" ] || skip "no DRIVE folder in $DATA"
# Never let a proxy from the environment see the loopback server or the file:// URLs.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy LUCENT_FETCH_BASE_URL
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

BREAST_MD5=750601b1f35ba3300ea97c75c52ff8f6
PNEU_MD5=28209eda62fecd6e6a2d98b1501bb15f
run() { "$LUCENT_BIN" "$@" > "$WORK/out.txt" 2>&1; echo $? > "$WORK/rc.txt"; }
rc() { cat "$WORK/rc.txt"; }
says() { grep -qF -- "$1" "$WORK/out.txt"; }
show() { sed 's/^/    | /' "$WORK/out.txt" | head -40; }
files_in() { find "$1" -type f | wc -l; }  # hidden temporaries included

# --- MedMNIST from a file:// base URL --------------------------------------------------------
dest="$WORK/dest"
run data fetch medmnist breastmnist --url "file://$MED/" --dest "$dest"
if [ "$(rc)" -eq 0 ] && cmp -s "$dest/breastmnist.npz" "$MED/breastmnist.npz" && says "downloaded" && says "$BREAST_MD5"; then
  pass "fetch breastmnist from file:// gives a byte-identical file"
else bad "fetch breastmnist (rc $(rc))"; show; fi
[ "$(files_in "$dest")" -eq 1 ] && pass "no temporary left after a download" || { bad "dest holds: $(ls -A "$dest")"; }

run data fetch medmnist breastmnist --url "file://$MED/" --dest "$dest"
[ "$(rc)" -eq 0 ] && says "already present, checksum ok" && pass "second fetch: already present, checksum ok" \
  || { bad "second fetch (rc $(rc))"; show; }

# A corrupted copy in the destination: refused without --force and left as it is ...
python3 - "$dest/breastmnist.npz" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xFF; open(p, "wb").write(b)
PY
cp "$dest/breastmnist.npz" "$WORK/corrupt.npz"
run data fetch medmnist breastmnist --url "file://$MED/" --dest "$dest"
if [ "$(rc)" -eq 8 ] && says "already_exists" && says "expected $BREAST_MD5" && says "--force" \
   && cmp -s "$dest/breastmnist.npz" "$WORK/corrupt.npz"; then
  pass "corrupt copy without --force: exit 8, expected vs found, file untouched"
else bad "corrupt copy without --force (rc $(rc))"; show; fi
# ... and re-fetched with --force.
run data fetch medmnist breastmnist --url "file://$MED/" --dest "$dest" --force
if [ "$(rc)" -eq 0 ] && says "replaced" && cmp -s "$dest/breastmnist.npz" "$MED/breastmnist.npz" \
   && [ "$(files_in "$dest")" -eq 1 ]; then
  pass "corrupt copy with --force: re-fetched, byte-identical"
else bad "corrupt copy with --force (rc $(rc))"; show; fi

# A server that sends the wrong file under the expected name: checksum error, nothing kept.
mkdir -p "$WORK/wrong"
cp "$MED/pneumoniamnist.npz" "$WORK/wrong/breastmnist.npz"
run data fetch medmnist breastmnist --url "file://$WORK/wrong/" --dest "$WORK/dest2"
if [ "$(rc)" -eq 4 ] && says "checksum mismatch" && says "expected $BREAST_MD5" && says "found $PNEU_MD5" \
   && [ "$(files_in "$WORK/dest2")" -eq 0 ]; then
  pass "wrong file served: exit 4, expected vs found, nothing left in dest"
else bad "wrong file served (rc $(rc), $(files_in "$WORK/dest2") files left)"; show; fi

# The base URL from the environment; a file the server does not have.
LUCENT_FETCH_BASE_URL="file://$MED" run data fetch pneumoniamnist --dest "$WORK/dest3"
[ "$(rc)" -eq 0 ] && cmp -s "$WORK/dest3/pneumoniamnist.npz" "$MED/pneumoniamnist.npz" \
  && pass "LUCENT_FETCH_BASE_URL and the short form 'data fetch pneumoniamnist'" || { bad "env base URL (rc $(rc))"; show; }
run data fetch medmnist breastmnist --size 64 --url "file://$MED/" --dest "$WORK/dest4"
[ "$(rc)" -eq 3 ] && says "breastmnist_64.npz" && [ "$(files_in "$WORK/dest4")" -eq 0 ] \
  && pass "missing source file: exit 3 naming breastmnist_64.npz, nothing left" || { bad "missing source (rc $(rc))"; show; }

# --- bad requests -----------------------------------------------------------------------------
run data fetch nosuchset
[ "$(rc)" -eq 2 ] && says "unknown dataset 'nosuchset'" && says "medmnist, busi, drive, isbi2012, mricron, dicom" \
  && pass "unknown dataset: exit 2 listing the names" || { bad "unknown dataset (rc $(rc))"; show; }
run data fetch medmnist nosuchmnist --dest "$WORK/dest5"
[ "$(rc)" -eq 2 ] && says "breastmnist" && says "synapsemnist3d" && [ ! -e "$WORK/dest5" ] \
  && pass "unknown MedMNIST set: exit 2 listing the sets" || { bad "unknown MedMNIST set (rc $(rc))"; show; }
run data fetch medmnist organmnist3d --size 128 --dest "$WORK/dest5"
[ "$(rc)" -eq 2 ] && says "28, 64" && pass "3-D set at 128 px: exit 2 naming the sizes" || { bad "3-D size (rc $(rc))"; show; }
run data fetch medmnist breastmnist --size 100
[ "$(rc)" -eq 2 ] && pass "--size 100 refused (exit 2)" || { bad "--size 100 (rc $(rc))"; show; }

# --- datasets fetched by hand -----------------------------------------------------------------
for ds in busi drive isbi2012 mricron dicom; do
  run data fetch "$ds"
  if [ "$(rc)" -eq 0 ] && says "Automatic download is not implemented" && says "official source:" \
     && says "lucent data verify $ds"; then pass "fetch $ds prints the official source"
  else bad "fetch $ds (rc $(rc))"; show; fi
done
run data fetch busi; says "scholar.cu.edu.eg" && says "DOWNSCALED" && pass "busi: source URL, downscaled-copy note" || bad "busi text"
run data fetch drive; says "drive.grand-challenge.org" && pass "drive: challenge URL" || bad "drive text"
run data fetch mricron; says "apt-get download mricron-data" && pass "mricron: Debian package" || bad "mricron text"

# --- verify -----------------------------------------------------------------------------------
run data verify drive "$DATA/drive"
[ "$(rc)" -eq 0 ] && says "140 checked, 140 ok" && says "verify ok" && pass "verify drive: 140 files ok" \
  || { bad "verify drive (rc $(rc))"; show; }
for ds in isbi2012:isbi2012_em_membrane mricron:mricron_ch2_aal dicom:dicom; do
  name=${ds%%:*}; folder=${ds#*:}
  [ -d "$DATA/$folder" ] || continue
  run data verify "$name" "$DATA/$folder"
  [ "$(rc)" -eq 0 ] && says "verify ok" && pass "verify $name ok" || { bad "verify $name (rc $(rc))"; show; }
done
run data verify medmnist "$MED"
[ "$(rc)" -eq 0 ] && says "2 checked, 2 ok" && pass "verify medmnist (MD5 table) ok" || { bad "verify medmnist (rc $(rc))"; show; }

cp -r "$DATA/drive" "$WORK/drive"
chmod -R u+w "$WORK/drive"
printf 'x' >> "$WORK/drive/training/images/21_training.tif"
rm "$WORK/drive/testing/mask/01_test_mask.gif"
echo extra > "$WORK/drive/notes.txt"
run data verify drive "$WORK/drive"
if [ "$(rc)" -ne 0 ] && says "MISMATCH    training/images/21_training.tif" && says "MISSING     testing/mask/01_test_mask.gif" \
   && says "unexpected file, not in the list: notes.txt" && says "1 mismatched, 1 missing" && says "138 ok"; then
  pass "verify a damaged copy: exit $(rc), names the changed and the removed file, warns about the extra"
else bad "verify damaged copy (rc $(rc))"; show; fi
[ "$(rc)" -eq 4 ] && pass "mismatch exits 4 (invalid_data)" || bad "damaged copy exit $(rc), expected 4"

rm "$WORK/drive/notes.txt"; cp "$DATA/drive/training/images/21_training.tif" "$WORK/drive/training/images/"
run data verify drive "$WORK/drive"
[ "$(rc)" -eq 3 ] && says "1 missing" && pass "only a missing file: exit 3 (not_found)" || { bad "missing-only (rc $(rc))"; show; }
run data verify drive "$WORK/no-such-folder"
[ "$(rc)" -eq 3 ] && says "does not exist" && pass "verify a missing folder: exit 3" || { bad "missing folder (rc $(rc))"; show; }

# --- over HTTP on loopback: FAILONERROR turns a 404 into an error -----------------------------
if command -v python3 > /dev/null; then
  mkdir -p "$WORK/www"; cp "$MED/breastmnist.npz" "$WORK/www/"
  (cd "$WORK/www" && exec python3 -u -m http.server 0 --bind 127.0.0.1 > "$WORK/http.log" 2>&1) &
  server=$!
  trap 'kill $server 2>/dev/null; rm -rf "$WORK"' EXIT
  port=""
  for _ in $(seq 50); do
    port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/http.log" | head -1)
    [ -n "$port" ] && break; sleep 0.1
  done
  if [ -n "$port" ]; then
    run data fetch medmnist breastmnist --url "http://127.0.0.1:$port/" --dest "$WORK/dest6"
    [ "$(rc)" -eq 0 ] && cmp -s "$WORK/dest6/breastmnist.npz" "$MED/breastmnist.npz" \
      && pass "fetch over HTTP (loopback) byte-identical" || { bad "HTTP fetch (rc $(rc))"; show; }
    run data fetch medmnist pneumoniamnist --url "http://127.0.0.1:$port/" --dest "$WORK/dest6"
    [ "$(rc)" -eq 3 ] && says "HTTP 404" && [ "$(files_in "$WORK/dest6")" -eq 1 ] \
      && pass "HTTP 404: exit 3, nothing left" || { bad "HTTP 404 (rc $(rc))"; show; }
  else
    echo "note: loopback HTTP server did not start; HTTP checks not run"
  fi
  kill "$server" 2>/dev/null
fi
finish
