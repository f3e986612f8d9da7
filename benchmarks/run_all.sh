#!/usr/bin/env bash
# Every benchmark, one after another, each rewriting its figures in benchmarks/results/NAME.txt
# (a header with the date and commit, then what the script prints; written to NAME.txt.new
# first, so a failed benchmark leaves the previous result in place). Run by `make benchmarks`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
record() {
    local name=$1
    shift
    echo "== $name ($(date -u +%H:%M) UTC)"
    {
        echo "# $(date -u +'%F %H:%M') UTC, make benchmarks at $(git rev-parse --short HEAD)"
        "$@"
    } > "benchmarks/results/$name.txt.new"
    mv "benchmarks/results/$name.txt.new" "benchmarks/results/$name.txt"
}
record dimension $python benchmarks/bench_dimension.py
record information $python benchmarks/bench_information.py
record stimuli $python benchmarks/bench_stimuli.py
record extraction $python benchmarks/bench_extraction.py
record real_extraction $python benchmarks/bench_real_extraction.py
record analysis $python benchmarks/bench_analysis.py
record rf_frames $python benchmarks/bench_rf_frames.py
record nwb $python benchmarks/bench_nwb.py
record study benchmarks/bench_study.sh default
record study_imagenet benchmarks/bench_study.sh imagenet
