#!/bin/bash
# e2e_command_cli: `ganzhi command` and `ganzhi validate --kind command|reply`
# against a real mosquitto, with a responder in shell playing the agent: it takes
# the command off {prefix}/command, signs its reply with `openssl dgst -hmac` as
# the README tells a platform to, and publishes readings that name the command.
# The agent's own side of the channel is tested with the agent (not here).
. "$(dirname "$0")/lib.sh"

MQ=$(free_port)
start_broker mq "$MQ" "log_type all"
PREFIX=ganzhi/GW01
KEY='ganzhi-command-key-demo-0001'
printf '%s' "$KEY" > "$T/command.key"
chmod 600 "$T/command.key"
write_agent_conf "$T/agent.conf" 1 "[uplink county]
url = mqtt://127.0.0.1:$MQ
topic_prefix = $PREFIX
commands = on
command_key_file = $T/command.key"
G="$BIN/ganzhi"

log "--print: the signed command, valid by validate, with and without the key"
"$G" command -c "$T/agent.conf" county resend --from now-2h --to now-1h --tags LT-101,PT-201 \
    --id print-1 --print > "$T/print.out" 2> "$T/print.err" || fail "--print exit $?"
cat "$T/print.out" "$T/print.err"
grep -q '^{"command":{"id":"print-1","cmd":"resend","ts":"' "$T/print.out" || fail "not a command"
grep -q '"tags":\["LT-101","PT-201"\]}},"sign":"[0-9a-f]\{64\}"}$' "$T/print.out" || fail "no tags or sign"
[ -s "$T/print.err" ] && fail "a good command drew a warning"
# the signature is the HMAC of the object's bytes, as openssl computes it
obj=$(sed -e 's/^{"command"://' -e 's/,"sign":"[0-9a-f]*"}$//' "$T/print.out")
sig=$(printf '%s' "$obj" | openssl dgst -sha256 -hmac "$KEY" | sed 's/.*= //')
grep -q "\"sign\":\"$sig\"}" "$T/print.out" || fail "the signature is not openssl's HMAC-SHA256 ($sig)"
"$G" validate --kind command --key-file "$T/command.key" "$T/print.out" > "$T/v1.out" || fail "validate exit $?"
cat "$T/v1.out"
grep -q "valid command: resend, id print-1" "$T/v1.out" || fail "validate did not say valid"
grep -q "signature good: HMAC-SHA256" "$T/v1.out" || fail "validate did not check the signature"
"$G" validate --kind command - < "$T/print.out" | grep -q "signature not checked" || fail "no key: not said"
sed 's/LT-101/LT-102/' "$T/print.out" > "$T/tampered"
"$G" validate --kind command --key-file "$T/command.key" "$T/tampered" > "$T/v2.out"; rc=$?
cat "$T/v2.out"
[ "$rc" = 1 ] || fail "a tampered command validates (exit $rc)"
grep -q "bad_signature" "$T/v2.out" || fail "no bad signature"
"$G" validate --kind command --key-file "$T/command.key" --sign sm3 "$T/print.out" > /dev/null && fail "SM3 accepts a SHA-256 signature"
# a command the agent will refuse is said so, and printed all the same
"$G" command -c "$T/agent.conf" county resend --from now-1h --to now-2h --print > /dev/null 2> "$T/warn.err" ||
    fail "--print of a bad command exit $?"
grep -q "the agent will refuse this command (bad_args): resend: to is before from" "$T/warn.err" || fail "no warning: $(cat "$T/warn.err")"
"$G" command -c "$T/agent.conf" county resend --print > /dev/null 2>&1 || true
"$G" command -c "$T/agent.conf" nosuch clock --print > /dev/null 2>&1; [ $? = 2 ] || fail "unknown uplink not exit 2"

log "the README's worked example: its command and its reply validate with its key"
grep '^{"command":{"id":"plat-20261130-0001"' "$ROOT/README.md" > "$T/readme.cmd" || fail "no example command in README.md"
grep '^{"reply":{"id":"plat-20261130-0001"' "$ROOT/README.md" > "$T/readme.reply" || fail "no example reply in README.md"
"$G" validate --kind command --key-file "$T/command.key" "$T/readme.cmd" || fail "the README's command does not validate"
"$G" validate --kind reply --key-file "$T/command.key" "$T/readme.reply" || fail "the README's reply does not validate"
grep -q "SHA2-256(stdin)= 8e69ee587eb91ffa35dffb3242c26f1d23d2ea0bb666f15c2366b76588fefdd1" "$ROOT/README.md" ||
    fail "the README's openssl line is not the example's signature"
readme_obj=$(sed -n "s/^\$ OBJ='\(.*\)'\$/\1/p" "$ROOT/README.md")
[ -n "$readme_obj" ] || fail "no OBJ= line in README.md"
[ "$(printf '%s' "$readme_obj" | openssl dgst -sm3 -hmac "$KEY" | sed 's/.*= //')" = \
  24851ca7aeba5059bfae7d8054c449a75980e5600fa6afdb1740fa41ebc4a234 ] || fail "the README's SM3 line is wrong"

# respond MODE: take one command off $PREFIX/command and answer it (ok, refuse,
# badsig, none), with readings naming it on $PREFIX/realtime.
respond() {
    local mode=$1 id ts obj sig key=$KEY
    mosquitto_sub -h 127.0.0.1 -p "$MQ" -i "responder-$mode" -t "$PREFIX/command" -C 1 -N -W 20 \
        > "$T/cmd.$mode" || return 1
    id=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["command"]["id"])' "$T/cmd.$mode")
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    case $mode in
        ok|badsig) obj="{\"id\":\"$id\",\"cmd\":\"resend\",\"ok\":true,\"ts\":\"$ts\",\"gateway\":\"GW01\",\"readings\":3,\"missing\":[]}" ;;
        refuse) obj="{\"id\":\"$id\",\"cmd\":\"resend\",\"ok\":false,\"ts\":\"$ts\",\"gateway\":\"GW01\",\"error\":\"rate limit: 20 commands a minute\"}" ;;
        none) return 0 ;;
    esac
    [ "$mode" = badsig ] && key=another-key-of-16-bytes
    sig=$(printf '%s' "$obj" | openssl dgst -sha256 -hmac "$key" | sed 's/.*= //')
    mosquitto_pub -h 127.0.0.1 -p "$MQ" -t "$PREFIX/realtime" -q 1 \
        -m "{\"command_id\":\"$id\",\"resend\":true,\"readings\":[{\"seq\":1207},{\"seq\":1208}]}"
    mosquitto_pub -h 127.0.0.1 -p "$MQ" -t "$PREFIX/reply" -q 1 -m "{\"reply\":$obj,\"sign\":\"$sig\"}"
    mosquitto_pub -h 127.0.0.1 -p "$MQ" -t "$PREFIX/realtime" -q 1 \
        -m "{\"command_id\":\"$id\",\"resend\":true,\"readings\":[{\"seq\":1209}]}"
    mosquitto_pub -h 127.0.0.1 -p "$MQ" -t "$PREFIX/realtime" -q 1 \
        -m "{\"resend\":false,\"readings\":[{\"seq\":5000}]}"
}

# send MODE ARGS...: a responder in MODE, then ganzhi command; its exit status in RC.
send() {
    local mode=$1; shift
    respond "$mode" &
    local rpid=$!
    wait_for 10 grep -q "SUBSCRIBE from responder-$mode" "$T/mq/log" || fail "the responder did not subscribe"
    "$G" command -c "$T/agent.conf" county "$@" > "$T/out.$mode" 2>&1
    RC=$?
    cat "$T/out.$mode"
    wait "$rpid" || fail "the responder failed"
}

log "a good reply: shown, its signature good, exit 0; the readings naming the command counted"
send ok resend --from now-2h --to now-1h --wait 3
[ "$RC" = 0 ] || fail "exit $RC with a good reply"
grep -q "signature good (HMAC-SHA256" "$T/out.ok" || fail "signature not said good"
grep -q "^  ok$" "$T/out.ok" || fail "ok not said"
grep -q "$PREFIX/realtime .*3 messages, 2 with command_id cli-.*seqs 1207..5000 (4 readings)" "$T/out.ok" ||
    fail "the summary is wrong"
"$G" validate --kind command --key-file "$T/command.key" "$T/cmd.ok" || fail "the sent command does not validate"

log "a refusal: its reason shown, exit 1"
send refuse clock --wait 5
[ "$RC" = 1 ] || fail "exit $RC with a refusal"
grep -q "REFUSED: rate limit: 20 commands a minute" "$T/out.refuse" || fail "the reason is not shown"

log "a reply signed with another key: BAD, exit 1"
send badsig status --wait 2
[ "$RC" = 1 ] || fail "exit $RC with a bad signature"
grep -q "signature BAD" "$T/out.badsig" || fail "the bad signature is not said"

log "no reply: said, exit 1"
send none points --wait 1
[ "$RC" = 1 ] || fail "exit $RC without a reply"
grep -q "no reply on $PREFIX/reply within 1.0 s" "$T/out.none" || fail "no reply not said"

log "validate --kind reply on a captured reply"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -i capture -t "$PREFIX/reply" -C 1 -W 20 > "$T/reply.cap" &
CAP=$!
wait_for 10 grep -q "SUBSCRIBE from capture" "$T/mq/log" || fail "capture did not subscribe"
send ok measure --tags LT-101 --wait 1
wait "$CAP" || fail "no reply captured"
"$G" validate --kind reply --key-file "$T/command.key" "$T/reply.cap" > "$T/vr.out" || fail "validate reply exit $?"
cat "$T/vr.out"
grep -q "valid reply to resend cli-" "$T/vr.out" || fail "validate reply did not say valid"
sed 's/"readings":3/"readings":4/' "$T/reply.cap" > "$T/reply.bad"
"$G" validate --kind reply --key-file "$T/command.key" "$T/reply.bad" > /dev/null && fail "a tampered reply validates"
echo "PASS"
