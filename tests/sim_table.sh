#!/usr/bin/env bash
# sim_table: the demo point table must describe exactly what ganzhi-sim serves.
# Exit 0 when `ganzhi-sim --list` equals conf/demo/points/tank_farm.csv byte for byte,
# 1 with the diff when not (regenerate: build/ganzhi-sim --list > conf/demo/points/tank_farm.csv).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
sim="$BUILD/ganzhi-sim"
csv=conf/demo/points/tank_farm.csv
if [ ! -x "$sim" ]; then
    echo "sim_table: $sim not built" >&2
    exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$sim" --list > "$out"; then
    echo "sim_table: $sim --list failed" >&2
    exit 1
fi
if ! diff -u "$csv" "$out"; then
    echo "sim_table: $csv differs from '$sim --list' (above: - file, + simulator)" >&2
    exit 1
fi
echo "sim_table: ok ($(grep -vc '^#' "$csv") lines incl. header)"
