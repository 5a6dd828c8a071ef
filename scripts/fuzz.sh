#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of Certus's readers (issue 15; docs/reliability.md,
# "Fuzzed readers and sanitizer builds").
#
#   scripts/fuzz.sh [options] [target ...]
#
# Targets (default: all four):
#   FuzzONNXBinary  ONNX protobuf reader + graph builder  (Sources/CertusONNX)
#   FuzzONNXJSON    ONNX-JSON reader + graph builder      (Sources/CertusONNX)
#   FuzzVNNLib      VNN-LIB reader                         (Sources/CertusSpec/VNNLib.swift, SExpression.swift)
#   FuzzSpecJSON    JSON robustness spec reader            (Sources/CertusSpec/RobustnessSpec.swift)
#
# Options:
#   --time S       fuzz each target for S seconds (default 60)
#   --runs N       fuzz each target for N executions instead of a time
#   --jobs J       J libFuzzer processes per target (default 1; results add up)
#   --regress      build, then only replay the committed corpus and regression inputs (no fuzzing)
#   --minimize     after fuzzing, merge what was found into the committed corpus Fuzz/corpus/<target>
#   --seed N       libFuzzer's random seed (default: libFuzzer picks one)
#   --max-len B    longest input libFuzzer makes, in bytes (default 4096 for VNN-LIB, 16384 for
#                  the others; longer seeds are cut to it)
#   --no-build     use the binaries already built
#   --address      also build with AddressSanitizer (slower; catches misuse of unsafe pointers)
#
# Every run uses -rss_limit_mb=1024 (and so -malloc_limit_mb=1024) and -timeout=1: an input that
# takes over 1 s, or a process over 1 GiB, or a single allocation over 1 GiB, is a failure, saved
# under $FUZZ_WORK/<target>/artifacts. Inputs come from the committed corpus Fuzz/corpus/<target>
# and, when ../shared exists, from every shared benchmark file of the target's format (copied to
# $FUZZ_WORK/<target>/seeds, named by content hash). New inputs go to $FUZZ_WORK/<target>/corpus.
#
# Environment: FUZZ_SCRATCH (build folder, default .build-fuzz), FUZZ_WORK (default /tmp/certus-fuzz),
# FUZZ_BIN (folder of already built fuzz binaries, with --no-build).
# Exit status: 0 when no target failed, 1 otherwise. The last line of each target's log, with its
# executions, is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

ALL=(FuzzONNXBinary FuzzONNXJSON FuzzVNNLib FuzzSpecJSON)
TIME=60; MAXLEN=""; RUNS=""; JOBS=1; REGRESS=0; MINIMIZE=0; SEED=""; BUILD=1; SAN="--sanitize=fuzzer"
TARGETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) TIME="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --regress) REGRESS=1; shift ;;
    --minimize) MINIMIZE=1; shift ;;
    --seed) SEED="$2"; shift 2 ;;
    --max-len) MAXLEN="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --address) SAN="--sanitize=fuzzer --sanitize=address"; shift ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    Fuzz*) TARGETS+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL[@]}")

SCRATCH="${FUZZ_SCRATCH:-.build-fuzz}"
WORK="${FUZZ_WORK:-/tmp/certus-fuzz}"
SHARED="../shared"
# Swift's own crash backtracer takes over a second on a trap, which libFuzzer would report as a
# timeout; without it a trap is reported as the crash (deadly signal) it is.
export SWIFT_BACKTRACE=enable=no

if [[ $BUILD == 1 ]]; then
  for t in "${TARGETS[@]}"; do
    echo "== build $t ($SAN, release)"
    mkdir -p "$WORK"
    ok=0
    for attempt in 1 2 3; do   # another build touching the tree may say "modified during the build"
      if CERTUS_FUZZ=1 swift build -c release $SAN --scratch-path "$SCRATCH" --product "$t" > "$WORK/build.log" 2>&1; then
        ok=1; break
      fi
      tail -5 "$WORK/build.log"
    done
    [[ $ok == 1 ]] || { echo "fuzz.sh: build of $t failed (log: $WORK/build.log)" >&2; exit 1; }
  done
fi
BIN="${FUZZ_BIN:-$(CERTUS_FUZZ=1 swift build -c release $SAN --scratch-path "$SCRATCH" --show-bin-path)}"

# Seed files of each target's format from the shared benchmarks and the repo.
seed() {
  local t="$1" dir="$2"
  mkdir -p "$dir"
  local roots=(Specs Models Tests/Fixtures Examples)
  [[ -d "$SHARED" ]] && roots+=("$SHARED")
  local files
  case "$t" in
    FuzzVNNLib) files=$(find "${roots[@]}" -name '*.vnnlib' -size -2M 2>/dev/null) ;;
    FuzzONNXBinary) files=$(find "${roots[@]}" -name '*.onnx' -size -2M 2>/dev/null) ;;
    FuzzONNXJSON) files=$(find "${roots[@]}" -name '*.json' -size -2M 2>/dev/null | xargs -r grep -l '"graph"' 2>/dev/null || true) ;;
    FuzzSpecJSON) files=$(find "${roots[@]}" -name '*.json' -size -2M 2>/dev/null | xargs -r grep -l '"center"' 2>/dev/null || true) ;;
  esac
  for f in $files; do cp "$f" "$dir/$(sha1sum "$f" | cut -c1-16)"; done
}

FAILED=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$WORK/$t/corpus" "$WORK/$t/artifacts" "Fuzz/corpus/$t"
  inputs=("Fuzz/corpus/$t")
  [[ -d "Fuzz/regressions/$t" ]] && inputs+=("Fuzz/regressions/$t")
  common=(-rss_limit_mb=1024 -timeout=1 -artifact_prefix="$WORK/$t/artifacts/" -print_final_stats=1)
  [[ -f "Fuzz/dicts/$t.dict" ]] && common+=(-dict="$ROOT/Fuzz/dicts/$t.dict")
  if [[ $REGRESS == 1 ]]; then
    echo "== replay $t: ${inputs[*]}"
    files=$(find "${inputs[@]}" -type f)
    if [[ -n "$files" ]] && ! "$BIN/$t" "${common[@]}" $files > "$WORK/$t/replay.log" 2>&1; then
      echo "FAILED: $t (log: $WORK/$t/replay.log)"; tail -30 "$WORK/$t/replay.log"; FAILED=1
    else
      echo "ok: $t replayed $(echo "$files" | grep -c . || true) inputs"
    fi
    continue
  fi
  seed "$t" "$WORK/$t/seeds"
  limit=(-max_total_time="$TIME")
  [[ -n "$RUNS" ]] && limit=(-runs="$RUNS")
  [[ -n "$SEED" ]] && common+=(-seed="$SEED")
  len="$MAXLEN"
  [[ -n "$len" ]] || { [[ $t == FuzzVNNLib ]] && len=4096 || len=16384; }
  common+=(-max_len="$len")
  par=()
  [[ $JOBS -gt 1 ]] && par=(-jobs="$JOBS" -workers="$JOBS")
  echo "== fuzz $t (${limit[*]}, $JOBS job(s)); log $WORK/$t/fuzz.log"
  if ! (cd "$WORK/$t" && "$BIN/$t" "${common[@]}" "${par[@]}" "${limit[@]}" corpus \
          "$ROOT/Fuzz/corpus/$t" seeds $( [[ -d "$ROOT/Fuzz/regressions/$t" ]] && echo "$ROOT/Fuzz/regressions/$t" )) \
        > "$WORK/$t/fuzz.log" 2>&1; then
    echo "FAILED: $t; artifacts in $WORK/$t/artifacts"; grep -E "ERROR|SUMMARY|Fatal|panic|==" "$WORK/$t/fuzz.log" | head -20; FAILED=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$WORK/$t/fuzz.log" $( ls "$WORK/$t"/fuzz-*.log 2>/dev/null ) | sed "s|^|  $t |" || true
  if [[ $MINIMIZE == 1 ]]; then
    echo "== minimize $t into Fuzz/corpus/$t"
    rm -rf "$WORK/$t/merged"; mkdir -p "$WORK/$t/merged"
    "$BIN/$t" "${common[@]}" -merge=1 "$WORK/$t/merged" "Fuzz/corpus/$t" "$WORK/$t/corpus" "$WORK/$t/seeds" > "$WORK/$t/merge.log" 2>&1
    rm -rf "Fuzz/corpus/$t"; mkdir -p "Fuzz/corpus/$t"
    cp "$WORK/$t/merged"/* "Fuzz/corpus/$t/" 2>/dev/null || true
    echo "  $(ls "Fuzz/corpus/$t" | wc -l) files, $(du -sh "Fuzz/corpus/$t" | cut -f1)"
  fi
done
exit $FAILED
