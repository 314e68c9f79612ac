#!/bin/bash
# e2e_envelope_openssl: a platform developer's side of the envelope, played by the
# openssl command line alone (proto/envelope.h documents these very commands):
# verify the HMAC-SHA256 signature (over the envelope's fields, and over the body),
# decrypt AES-128-CBC with `openssl enc`, and check that tampering is noticed.
# AES-256-GCM: `openssl enc` has no AEAD modes; it is decrypted with Python's
# cryptography (Debian python3-cryptography) when present, else said and skipped.
# Bodies are golden profile messages with Chinese text in UTF-8.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
TOOL=$BUILD/tests/tool_envelope
command -v openssl >/dev/null || { echo "openssl is not installed"; exit 77; }
[ -x "$TOOL" ] || { echo "$TOOL is missing (make)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok $*"; }
bad() { echo "FAIL $*"; fail=1; }

field() {   # field NAME FILE: a string field of the envelope (base64, hex: no escapes)
    sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"
}
b64hex() { printf %s "$1" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n'; }
wire_sign() {   # wire_sign ENVELOPE HKEYHEX: the signature openssl computes
    printf '%s\n%s\n%s\n%s\n%s\n%s' "$(field appId "$1")" "$(field dataId "$1")" \
        "$(field alg "$1")" "$(field iv "$1")" "$(field data "$1")" "$(field tag "$1")" |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$2" | awk '{print $NF}'
}

HK=$(openssl rand -hex 32)
K16=$(openssl rand -hex 16)
K32=$(openssl rand -hex 32)
ID=a6fdeef747d7bdd5d7166148559931a4

for body in tests/golden/hazchem_realtime.json tests/golden/coal_realtime.txt; do
    name=$(basename "$body")
    # ---- AES-128-CBC, signed over the envelope's fields ----
    "$TOOL" seal A128CBC "$K16" "$(openssl rand -hex 16)" "$HK" wire 应急APP "$ID" \
        < "$body" > "$T/cbc.json" || { bad "$name: seal A128CBC"; continue; }
    [ "$(wire_sign "$T/cbc.json" "$HK")" = "$(field sign "$T/cbc.json")" ] &&
        ok "$name: A128CBC signature verified by openssl dgst" ||
        bad "$name: A128CBC signature differs from openssl's"
    field data "$T/cbc.json" | openssl base64 -d -A |
        openssl enc -d -aes-128-cbc -K "$K16" -iv "$(b64hex "$(field iv "$T/cbc.json")")" \
        > "$T/cbc.out" 2>"$T/err" && cmp -s "$T/cbc.out" "$body" &&
        ok "$name: A128CBC decrypted by openssl enc, byte for byte" ||
        bad "$name: openssl enc could not decrypt: $(cat "$T/err")"
    # tampering: one ciphertext character changed, openssl's HMAC no longer matches
    sed 's/"data":"/"data":"AAAA/' "$T/cbc.json" > "$T/cbc.bad"
    [ "$(wire_sign "$T/cbc.bad" "$HK")" != "$(field sign "$T/cbc.json")" ] &&
        ok "$name: tampered ciphertext fails openssl's HMAC" ||
        bad "$name: tampering went unnoticed"

    # ---- AES-128-CBC, signed over the body ----
    "$TOOL" seal A128CBC "$K16" "$(openssl rand -hex 16)" "$HK" body APP1 "$ID" \
        < "$body" > "$T/cbcb.json" || bad "$name: seal body-signed"
    field data "$T/cbcb.json" | openssl base64 -d -A |
        openssl enc -d -aes-128-cbc -K "$K16" -iv "$(b64hex "$(field iv "$T/cbcb.json")")" \
        > "$T/cbcb.out" 2>/dev/null
    sig=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$HK" < "$T/cbcb.out" | awk '{print $NF}')
    [ "$sig" = "$(field sign "$T/cbcb.json")" ] && cmp -s "$T/cbcb.out" "$body" &&
        ok "$name: body signature verified by openssl dgst after decryption" ||
        bad "$name: body signature differs from openssl's"

    # ---- AES-256-GCM ----
    "$TOOL" seal A256GCM "$K32" "$(openssl rand -hex 12)" "$HK" wire APP1 "$ID" \
        < "$body" > "$T/gcm.json" || { bad "$name: seal A256GCM"; continue; }
    [ "$(wire_sign "$T/gcm.json" "$HK")" = "$(field sign "$T/gcm.json")" ] &&
        ok "$name: A256GCM signature verified by openssl dgst" ||
        bad "$name: A256GCM signature differs from openssl's"
    if /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
        /usr/bin/python3 - "$K32" "$T/gcm.json" > "$T/gcm.out" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
env = json.load(open(sys.argv[2]))
assert env["alg"] == "A256GCM"
b = lambda k: base64.b64decode(env[k])
sys.stdout.buffer.write(AESGCM(bytes.fromhex(sys.argv[1])).decrypt(b("iv"), b("data") + b("tag"), None))
PY
        cmp -s "$T/gcm.out" "$body" && ok "$name: A256GCM decrypted by python3-cryptography" ||
            bad "$name: A256GCM did not decrypt to the body"
    else
        echo "note: python3-cryptography is not installed: A256GCM decryption not checked" \
             "(openssl enc has no GCM; add python3-cryptography to tests/deps.sh)"
    fi
    # and our own opener agrees with all of it
    "$TOOL" open A256GCM "$K32" "$HK" wire < "$T/gcm.json" | cmp -s - "$body" &&
        "$TOOL" open A128CBC "$K16" "$HK" wire < "$T/cbc.json" | cmp -s - "$body" &&
        ! "$TOOL" open A128CBC "$K16" "$HK" wire < "$T/cbc.bad" 2>/dev/null >&2 &&
        ok "$name: envelope_open agrees, and refuses the tampered one" ||
        bad "$name: envelope_open"
done
[ "$fail" = 0 ] && echo "all envelope checks passed"
exit "$fail"
