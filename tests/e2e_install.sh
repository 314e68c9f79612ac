#!/bin/bash
# make install into a DESTDIR, then the installed tree on its own: the programs
# run from it, `ganzhi check` passes on the installed example configuration,
# ganzhi.conf(5) lists every key `ganzhi check --keys` knows and every man page
# renders without warnings, the unit points at the installed programs and scores
# "OK" or better in `systemd-analyze security`, a second install keeps an edited
# configuration, the agent refuses root unless told, and it speaks sd_notify
# (READY, WATCHDOG, RELOADING, STOPPING) over $NOTIFY_SOCKET, path or abstract.
source "$(dirname "$0")/lib.sh"
D=$T/root

log "make install PREFIX=/usr DESTDIR=$D"
make -s -C "$ROOT" install BUILD="$BUILD" PREFIX=/usr DESTDIR="$D" > "$T/install.log" 2>&1 \
    || { cat "$T/install.log"; fail "make install"; }
for f in usr/bin/ganzhi usr/bin/ganzhi-sim usr/sbin/ganzhi-agent; do
    [ -x "$D/$f" ] || fail "no $f"
    "$D/$f" --version | grep -q "$(basename "$f") 0\." || fail "$f --version"
done
for f in etc/ganzhi/agent.conf etc/ganzhi/points/tank_plc.csv usr/share/man/man1/ganzhi.1 \
         usr/share/man/man1/ganzhi-sim.1 usr/share/man/man5/ganzhi.conf.5 \
         usr/share/man/man8/ganzhi-agent.8 usr/lib/sysusers.d/ganzhi.conf \
         usr/share/doc/ganzhi/examples/agent.conf; do
    [ -f "$D/$f" ] || fail "no $f"
done
[ -d "$D/var/lib/ganzhi" ] || fail "no var/lib/ganzhi"
unit=$(find "$D" -name ganzhi-agent.service)
[ -n "$unit" ] || fail "no ganzhi-agent.service"

log "ganzhi check of the installed example configuration"
"$D/usr/bin/ganzhi" check -c "$D/etc/ganzhi/agent.conf" || fail "installed configuration refused"
grep -q '^data_dir *= */var/lib/ganzhi' "$D/etc/ganzhi/agent.conf" || fail "example data_dir is not /var/lib/ganzhi"

log "ganzhi.conf(5) has every key, and every page renders cleanly"
"$D/usr/bin/ganzhi" check --keys | awk '/^  [a-z_]+ / && $1 != "key" { print $1 }' > "$T/keys"
[ "$(wc -l < "$T/keys")" -ge 30 ] || fail "ganzhi check --keys lists only $(wc -l < "$T/keys") keys"
while read -r k; do
    grep -qF "\\fB$k\\fR" "$D/usr/share/man/man5/ganzhi.conf.5" || fail "ganzhi.conf(5) lacks key $k"
done < "$T/keys"
if command -v man > /dev/null; then
    for page in "$D"/usr/share/man/man*/*; do
        warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
               "$page" 2>&1 > /dev/null)
        [ -z "$warn" ] || fail "$(basename "$page"): $warn"
    done
fi

log "the unit runs the installed programs as user ganzhi"
grep -q '^ExecStart=/usr/sbin/ganzhi-agent -c /etc/ganzhi/agent.conf$' "$unit" || fail "ExecStart"
grep -q '^User=ganzhi$' "$unit" && grep -q '^Type=notify$' "$unit" \
    && grep -q '^WatchdogSec=' "$unit" || fail "unit lacks User/Type=notify/WatchdogSec"
if command -v systemd-analyze > /dev/null; then
    systemd-analyze security --offline=true --threshold=49 "$unit" > "$T/security" 2>&1 \
        || { tail -3 "$T/security"; fail "systemd-analyze security: worse than OK"; }
    tail -1 "$T/security"
fi

log "a second install keeps an edited configuration"
echo "# edited on site" >> "$D/etc/ganzhi/agent.conf"
make -s -C "$ROOT" install BUILD="$BUILD" PREFIX=/usr DESTDIR="$D" > "$T/install2.log" 2>&1 \
    || { cat "$T/install2.log"; fail "second make install"; }
tail -1 "$D/etc/ganzhi/agent.conf" | grep -q "edited on site" || fail "configuration overwritten"
grep -q "keeping the existing" "$T/install2.log" || fail "second install did not say it kept the configuration"

# A runnable copy of the installed configuration: our data_dir, nothing listening.
mkdir -p "$T/run"
cp -r "$D/etc/ganzhi/points" "$T/run/"
CLOSED=$(free_port)
sed -e "s#^data_dir .*#data_dir = $T/data#" -e "s#^host .*#host = 127.0.0.1#" \
    -e "s#^port .*#port = $CLOSED#" -e "s#^url .*#url = mqtt://127.0.0.1:$CLOSED#" \
    -e "s#^status_interval .*#status_interval = 1s#" \
    "$D/etc/ganzhi/agent.conf" > "$T/run/agent.conf"
"$D/usr/bin/ganzhi" check -c "$T/run/agent.conf" > /dev/null || fail "runnable copy refused"

if [ "$(id -u)" = 0 ]; then
    log "root is refused unless told"
    env -u GANZHI_ALLOW_ROOT "$D/usr/sbin/ganzhi-agent" -c "$T/run/agent.conf" 2> "$T/root.err"; rc=$?
    [ "$rc" = 2 ] || fail "as root without --allow-root: exit $rc, not 2"
    grep -q "runuser -u ganzhi" "$T/root.err" || fail "the refusal does not say how to run it"
fi

# notify_listen NAME ADDR: a datagram socket like systemd's, each message one line
# in $T/NAME.notify with its newlines shown as '|'. ADDR '@x' is abstract.
notify_listen() {
    /usr/bin/python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a = sys.argv[1]
s.bind("\0" + a[1:] if a.startswith("@") else a)
print("bound", flush=True)
while True:
    print(s.recv(4096).decode().replace("\n", "|"), flush=True)
' "$2" > "$T/$1.notify" 2>&1 &
    PIDS+=($!)
    wait_for 5 grep -q bound "$T/$1.notify" || fail "notify listener $1"
}

ready_twice() { [ "$(grep -c '^READY=1' "$1")" -ge 2 ]; }

# run_notified NAME ADDR: the installed agent under a fake service manager.
run_notified() {
    local name=$1 addr=$2 n
    notify_listen "$name" "$addr"
    NOTIFY_SOCKET=$addr WATCHDOG_USEC=600000 "$D/usr/sbin/ganzhi-agent" --allow-root \
        -c "$T/run/agent.conf" >> "$T/agent.log" 2>&1 &
    AGENT_PID=$!
    PIDS+=($AGENT_PID)
    wait_for 10 grep -q '^READY=1' "$T/$name.notify" || fail "$name: no READY=1"
    sleep 1.5
    n=$(grep -c '^WATCHDOG=1$' "$T/$name.notify")
    [ "$n" -ge 3 ] || fail "$name: $n watchdog pings in 1.5 s at WATCHDOG_USEC=600000"
    kill -HUP "$AGENT_PID"
    wait_for 10 grep -q '^RELOADING=1|MONOTONIC_USEC=' "$T/$name.notify" || fail "$name: no RELOADING=1"
    wait_for 10 ready_twice "$T/$name.notify" || fail "$name: no READY=1 after reload"
    kill -TERM "$AGENT_PID"
    wait "$AGENT_PID" || fail "$name: agent exit status $?"
    grep -q '^STOPPING=1' "$T/$name.notify" || fail "$name: no STOPPING=1"
    echo "$name: $(sort "$T/$name.notify" | uniq -c | tr -s ' ' | tr '\n' ';')"
}

log "sd_notify over a socket path and an abstract socket"
run_notified path "$T/notify.sock"
run_notified abstract "@ganzhi-test-$$"
echo "e2e_install: ok"
