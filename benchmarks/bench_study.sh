#!/usr/bin/env bash
# A shipped study (`prunedistill init --study NAME`; default: the default study) from nothing
# (empty output folder) and then again (all cached), each under /usr/bin/time -v: wall time
# and peak RSS. Usage: benchmarks/bench_study.sh [NAME] [OUT]
# Prints the stage lines and the figures; record them in benchmarks/results/study*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
study="${1:-default}"
out="${2:-/tmp/prunedistill_bench_study_$study}"
config="$(mktemp -d)/$study.yaml"
.venv/bin/prunedistill init --study "$study" "$config" > /dev/null
rm -rf "$out"
echo "== study $study ($(date -u +%F), $(nproc) cores)"
for pass in first cached; do
    log="$(mktemp)"
    /usr/bin/time -v .venv/bin/prunedistill run "$config" --output "$out" --quiet 2> "$log" || {
        cat "$log"; exit 1; }
    echo "== $pass run"
    grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$log"
    rm -f "$log"
done
python3 -c "import json,sys; m=json.load(open(sys.argv[1])); \
print('stage seconds (first run):', m['stage_seconds'])" "$out/report/metadata.json"
