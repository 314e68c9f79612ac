#!/bin/bash
# Runs every test: the unit binaries (build/tests/unit_*) and the end-to-end
# scripts (tests/check_*.sh, tests/e2e_*.sh, tests/sim_*.sh) against real peers. Ends with
# "N passed, N failed". Usage: tests/run.sh [PATTERN]  (only tests whose name
# contains PATTERN).
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
export BUILD
PATTERN=${1:-}
passed=0
failed=0
skipped=0
failures=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

for bin in "$BUILD"/tests/unit_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    [[ -n "$PATTERN" && "$name" != *"$PATTERN"* ]] && continue
    out=$("$bin" 2>&1)
    summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    if [ -z "$summary" ]; then
        echo "FAIL $name: crashed or printed no summary"
        printf '%s\n' "$out" | tail -20
        failed=$((failed + 1)); failures+=("$name")
        continue
    fi
    p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
    printf '%s\n' "$out" | grep -E '^FAIL' || true
    [ "$f" -gt 0 ] && failures+=("$name")
    echo "$name: $summary"
done

for script in tests/check_*.sh tests/e2e_*.sh tests/sim_*.sh; do
    [ -f "$script" ] || continue
    name=$(basename "$script" .sh)
    [[ -n "$PATTERN" && "$name" != *"$PATTERN"* ]] && continue
    start=$(date +%s)
    timeout 300 bash "$script" > "$logdir/$name.log" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then
        echo "ok $name ($(( $(date +%s) - start ))s)"
        passed=$((passed + 1))
    elif [ "$rc" = 77 ]; then
        echo "skip $name: $(tail -1 "$logdir/$name.log")"
        skipped=$((skipped + 1))
    else
        echo "FAIL $name ($(( $(date +%s) - start ))s); last lines of $logdir/$name.log:"
        tail -45 "$logdir/$name.log" | sed 's/^/    /'
        echo "    (disk: $(df -h /tmp | awk 'NR == 2 { print $4 " free of " $2 }'); load: $(cut -d' ' -f1-3 /proc/loadavg))"
        failed=$((failed + 1)); failures+=("$name")
    fi
done

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
