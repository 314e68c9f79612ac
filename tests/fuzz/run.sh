#!/bin/bash
# run.sh BIN...: run each fuzz target FUZZ_SECONDS from its corpus
# (tests/fuzz/corpus/<target>/, read only: what it finds goes to a scratch
# directory), FUZZ_JOBS at a time. Prints each target's last libFuzzer status
# line (cov:, ft:, exec/s); exits 1 if any target crashed, leaked or hit UB,
# leaving the input in build-fuzz/crashes/<target>/ and the log beside it.
set -u
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
here=$(cd "$(dirname "$0")" && pwd)
out=build-fuzz/runs
rm -rf "$out"
mkdir -p "$out" build-fuzz/crashes
run_one() {
    local bin=$1 name
    name=$(basename "$bin")
    local seeds="$here/corpus/$name" scratch="$out/$name.corpus" crashes="build-fuzz/crashes/$name"
    mkdir -p "$scratch" "$crashes"
    local dict=()
    [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "${dict[@]}" "$scratch" "$seeds" >"$out/$name.log" 2>&1
    local rc=$?
    local last
    last=$(grep -E '^#[0-9]+' "$out/$name.log" | tail -1 | sed -E 's/ +/ /g')
    if [ $rc = 0 ]; then
        echo "fuzz: $name ${secs}s ok: $last"
    else
        cp "$out/$name.log" "$crashes/log"
        echo "fuzz: $name FAILED (exit $rc): $last"
        grep -E 'ERROR: |runtime error|SUMMARY|Test unit written' "$out/$name.log" | head -5 | sed 's/^/    /'
    fi
    return $rc
}
export -f run_one
export secs out here
status=0
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {} || status=1
exit $status
