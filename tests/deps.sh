#!/bin/sh
# Installs the Debian packages Ganzhi builds, demos and tests with, when missing.
set -e
PKGS="build-essential pkg-config libmodbus-dev libpaho-mqtt-dev libsqlite3-dev libcjson-dev
libmbedtls-dev libssl-dev mosquitto mosquitto-clients socat openssl python3 python3-pymodbus python3-serial python3-serial-asyncio sqlite3 valgrind faketime python3-cryptography"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
