# Sourced by bench/run_load_bench.sh and bench/run_load_ab.sh.
# large_series N: prints the folder of the synthetic N-slice CT series (bench/make_large_series.py
# from one real slice under $DATA), writing it into $WORK once.
large_series() {
  local series="$WORK/series_$1"
  if [ ! -f "$series/.complete" ]; then
    rm -rf "$series"
    /usr/bin/python3 bench/make_large_series.py "$DATA/dicom/dcmqi/segmentations/ct-3slice/01.dcm" "$series" "$1" >&2
    touch "$series/.complete"
  fi
  echo "$series"
}
# median: the middle one of the numbers on standard input (the lower middle of an even count).
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
