#!/bin/bash
# deb-check: builds the Debian package from this tree (a copy of it, so that
# dpkg-buildpackage's output, written beside the tree, stays out of the
# repository), runs lintian (no errors allowed), installs the package, checks
# the installed programs, user, unit and conffiles, and that the agent runs as
# its user, then removes and purges it and checks that nothing is left.
# Needs root and apt (CI). Usage: packaging/deb-check.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(mktemp -d /tmp/ganzhi-deb.XXXXXX)}
say() { echo "deb-check: $*"; }
fail() { echo "deb-check: FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (installs the package)"

missing=""
for p in debhelper dpkg-dev fakeroot lintian; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

say "building in $OUT"
rm -rf "$OUT/src"; mkdir -p "$OUT/src"
tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$OUT/src"
if ! (cd "$OUT/src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b) > "$OUT/build.log" 2>&1; then
    tail -40 "$OUT/build.log"
    fail "dpkg-buildpackage failed (log: $OUT/build.log)"
fi
grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$' "$OUT/build.log" || true
deb=$(ls "$OUT"/ganzhi_*_"$(dpkg --print-architecture)".deb)
say "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KB)"

say "lintian"
rc=0
lintian --fail-on error --tag-display-limit 0 -I "$OUT"/ganzhi_*.changes > "$OUT/lintian.txt" 2>&1 || rc=$?
grep -v 'running with root privileges' "$OUT/lintian.txt" || echo "(lintian: nothing to report)"
[ "$rc" = 0 ] || fail "lintian reports errors"

dpkg-query -W ganzhi >/dev/null 2>&1 && apt-get purge -y -qq ganzhi >/dev/null
say "installing"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" > "$OUT/install.log" 2>&1 \
    || { cat "$OUT/install.log"; fail "apt-get install"; }

want_version=$(cd "$OUT/src" && dpkg-parsechangelog -S Version)
ganzhi --version
ganzhi --version | grep -qF " $want_version" || fail "ganzhi --version is not the package's $want_version"
/usr/sbin/ganzhi-agent --version
ganzhi check -c /etc/ganzhi/agent.conf || fail "ganzhi check of the installed configuration"

id ganzhi | grep -q '(dialout)' || fail "user ganzhi missing or not in group dialout: $(id ganzhi)"
[ "$(stat -c %U:%G:%a /var/lib/ganzhi)" = ganzhi:ganzhi:750 ] \
    || fail "/var/lib/ganzhi is $(stat -c %U:%G:%a /var/lib/ganzhi)"
[ "$(stat -c %U:%G:%a /etc/ganzhi/agent.conf)" = root:ganzhi:640 ] \
    || fail "/etc/ganzhi/agent.conf is $(stat -c %U:%G:%a /etc/ganzhi/agent.conf)"
for f in /etc/ganzhi/agent.conf /etc/ganzhi/points/tank_plc.csv; do
    dpkg-query -W -f='${Conffiles}\n' ganzhi | grep -q " $f " || fail "$f is not a conffile"
done
unit=/lib/systemd/system/ganzhi-agent.service
[ -f "$unit" ] || fail "no $unit"
[ -L /etc/systemd/system/multi-user.target.wants/ganzhi-agent.service ] || fail "unit not enabled"
for m in man1/ganzhi.1 man5/ganzhi.conf.5 man8/ganzhi-agent.8; do
    [ -f "/usr/share/man/$m.gz" ] || fail "no man page $m"
done
if command -v systemd-analyze >/dev/null; then
    systemd-analyze security --offline=true --threshold=49 "$unit" | tail -1 \
        || fail "systemd-analyze security: exposure above 4.9 (worse than OK)"
fi

say "the agent refuses root and runs as its user"
rc=0; env -u GANZHI_ALLOW_ROOT /usr/sbin/ganzhi-agent -c /etc/ganzhi/agent.conf 2> "$OUT/root.err" || rc=$?
[ "$rc" = 2 ] && grep -q "runuser -u ganzhi" "$OUT/root.err" || fail "root not refused (exit $rc)"
setpriv --reuid=ganzhi --regid=ganzhi --init-groups -- /usr/sbin/ganzhi-agent -c /etc/ganzhi/agent.conf 2> "$OUT/agent.log" &
pid=$!
for _ in $(seq 50); do [ -e /var/lib/ganzhi/store.db ] && break; sleep 0.1; done
sleep 0.5
kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$OUT/agent.log"; fail "agent as ganzhi exited $rc"; }
[ "$(stat -c %U /var/lib/ganzhi/store.db)" = ganzhi ] || fail "store not written by user ganzhi"

say "an edited configuration survives reinstallation"
echo "# edited on site" >> /etc/ganzhi/agent.conf
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$deb" >> "$OUT/install.log" 2>&1 \
    || fail "reinstall"
tail -1 /etc/ganzhi/agent.conf | grep -q "edited on site" || fail "conffile overwritten"

say "remove keeps the configuration, purge leaves nothing"
apt-get remove -y -qq ganzhi >> "$OUT/install.log" 2>&1 || fail "apt-get remove"
[ ! -e /usr/sbin/ganzhi-agent ] && [ ! -e /usr/bin/ganzhi ] && [ ! -e "$unit" ] || fail "files left after remove"
[ -f /etc/ganzhi/agent.conf ] || fail "remove took the configuration"
apt-get purge -y -qq ganzhi >> "$OUT/install.log" 2>&1 || fail "apt-get purge"
left=$(find /etc /lib/systemd /usr /var -name '*ganzhi*' -not -path '/var/log/*' 2>/dev/null || true)
[ -z "$left" ] || fail "left after purge: $left"
dpkg-query -W -f='${db:Status-Abbrev}' ganzhi 2>/dev/null | grep -q '^ii' && fail "still installed"
say "ok (package $(basename "$deb"), outputs in $OUT)"
