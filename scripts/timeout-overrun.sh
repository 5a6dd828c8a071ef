#!/usr/bin/env bash
# Timeout overrun of `certus verify`: runs every instance of the given VNN-COMP instance lists
# with `--timeout LIMIT` and prints, per instance, the wall-clock time of the whole process
# (loading included) minus LIMIT, then the maximum. Usage:
#   scripts/timeout-overrun.sh CERTUS LIMIT [--method M] -- LIST.csv [LIST.csv ...]
# e.g. scripts/timeout-overrun.sh .build/release/certus 1 -- ../shared/benchmarks/acasxu/instances.csv
set -u
certus=$1; limit=$2; shift 2
extra=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do extra+=("$1"); shift; done
shift
max=-1000000000; worst=""; n=0
for list in "$@"; do
  dir=$(dirname "$list")
  while IFS=, read -r onnx vnnlib _; do
    case "$onnx" in ""|onnx) continue;; esac
    [ "${onnx:0:1}" = / ] || onnx="$dir/$onnx"
    [ "${vnnlib:0:1}" = / ] || vnnlib="$dir/$vnnlib"
    t0=$(date +%s.%N)
    status=$("$certus" verify "$onnx" "$vnnlib" --timeout "$limit" "${extra[@]}" 2>/dev/null | head -1)
    t1=$(date +%s.%N)
    over=$(echo "$t1 - $t0 - $limit" | bc -l)
    n=$((n + 1))
    printf '%s %s %s %+.3f\n' "$(basename "$onnx")" "$(basename "$vnnlib")" "${status:-error}" "$over"
    if [ "$(echo "$over > $max" | bc -l)" = 1 ]; then max=$over; worst="$(basename "$onnx") $(basename "$vnnlib")"; fi
  done < "$list"
done
printf 'instances %d, limit %s s, max overrun %+.3f s (%s)\n' "$n" "$limit" "$max" "$worst"
