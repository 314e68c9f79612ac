#!/bin/bash
# The layers include downwards only: core/ (readings, clocks, URLs, numbers) is the
# bottom; proto/ (pure encoders) and drivers/ (device links) sit on core/ alone;
# agent/ on those three; tools/ on anything. A quoted #include that reaches up or
# across fails this test with the file, the line and the rule it breaks.
cd "$(dirname "$0")/.." || exit 2
allowed() {
    case $1 in
        core)    echo "core" ;;
        proto)   echo "core proto" ;;
        drivers) echo "core drivers" ;;
        agent)   echo "core proto drivers agent" ;;
        tools)   echo "core proto drivers agent tools" ;;
    esac
}
bad=0
checked=0
for layer in core proto drivers agent tools; do
    ok=$(allowed $layer)
    for f in $layer/*.c $layer/*.h; do
        [ -f "$f" ] || continue
        checked=$((checked + 1))
        while IFS=: read -r line inc; do
            target=${inc%%/*}
            case " $ok " in
                *" $target "*) ;;
                *) echo "$f:$line: includes \"$inc\": $layer/ may include only: $ok"
                   bad=$((bad + 1)) ;;
            esac
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" \
                 | sed 's/^\([0-9]*\):.*"\([^"]*\)".*/\1:\2/')
    done
done
[ "$checked" -gt 50 ] || { echo "only $checked files found: is this the source tree?"; exit 1; }
echo "$checked files checked, $bad includes across layers"
[ "$bad" = 0 ]
