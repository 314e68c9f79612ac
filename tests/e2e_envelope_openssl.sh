#!/bin/bash
# e2e_envelope_openssl: a platform developer's side of the envelope, played by the
# openssl command line alone (proto/envelope.h documents these very commands):
# verify the HMAC-SHA256 and HMAC-SM3 signatures (over the envelope's fields, and
# over the body), decrypt AES-128-CBC and SM4-CBC with `openssl enc`, and check
# that tampering is noticed. AES-256-GCM and SM4-GCM: `openssl enc` has no AEAD
# modes; they are decrypted with Python's cryptography (Debian python3-cryptography;
# where it has no SM4-GCM, GCM is written out in Python over its SM4 block
# cipher), else said and skipped. Bodies are golden profile messages with Chinese
# text in UTF-8.
# Then the agent itself: a hazchem uplink with envelope = SM4-CBC, sign_alg =
# HMAC-SM3, override.envelope.encoding = HEX (the ministry channel's way) and a
# generic one with SM4-GCM in lowercase hex signed over the body, publishing to
# mosquitto; each captured envelope verified and decrypted by openssl (SM4-GCM by
# Python) to a body that validates and holds the simulator's values; and
# `ganzhi check` refusing a bad encoding, a short SM4 key and a lone sign_alg at
# their lines.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 2
PY=/usr/bin/python3
TOOL=$BUILD/tests/tool_envelope
command -v openssl >/dev/null || { echo "openssl is not installed"; exit 77; }
[ -x "$TOOL" ] || { echo "$TOOL is missing (make)"; exit 1; }
fail=0
ok() { echo "ok $*"; }
bad() { echo "FAIL $*"; fail=1; }

field() {   # field NAME FILE: a string field of the envelope (base64, hex: no escapes)
    sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"
}
b64hex() { printf %s "$1" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n'; }
wire_sign() {   # wire_sign ENVELOPE HKEYHEX [sha256|sm3]: the signature openssl computes
    printf '%s\n%s\n%s\n%s\n%s\n%s' "$(field appId "$1")" "$(field dataId "$1")" \
        "$(field alg "$1")" "$(field iv "$1")" "$(field data "$1")" "$(field tag "$1")" |
        openssl dgst "-${3:-sha256}" -mac HMAC -macopt "hexkey:$2" | awk '{print $NF}'
}
flip() {    # flip FILE FIELD: the field's first character changed (0 <-> 1)
    sed "s/\"$2\":\"0/\"$2\":\"@/; s/\"$2\":\"[^@\"]/\"$2\":\"0/; s/\"$2\":\"@/\"$2\":\"1/" "$1"
}

# SM4-GCM decrypted in Python: sm4gcm.py KEYHEX ENVELOPE base64|hex|HEX > body
cat > "$T/sm4gcm.py" <<'PY'
import base64, json, sys
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key = bytes.fromhex(sys.argv[1])
env = json.load(open(sys.argv[2], encoding="utf-8"))
assert env["alg"] == "SM4-GCM", env["alg"]
dec = base64.b64decode if sys.argv[3] == "base64" else bytes.fromhex
iv, data, tag = (dec(env[k]) for k in ("iv", "data", "tag"))
try:
    d = Cipher(algorithms.SM4(key), modes.GCM(iv, tag)).decryptor()
    body = d.update(data) + d.finalize()
    how = "cryptography's SM4-GCM"
except UnsupportedAlgorithm:
    # SP 800-38D written out over cryptography's SM4 block cipher (ECB)
    def ecb(b):
        e = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
        return e.update(b) + e.finalize()
    H = int.from_bytes(ecb(bytes(16)), "big")
    def mul(x, y):
        z = 0
        for i in range(127, -1, -1):
            if (x >> i) & 1:
                z ^= y
            y = (y >> 1) ^ (0xE1 << 120) if y & 1 else y >> 1
        return z
    y = 0
    padded = data + bytes(-len(data) % 16)
    for i in range(0, len(padded), 16):
        y = mul(y ^ int.from_bytes(padded[i:i + 16], "big"), H)
    y = mul(y ^ (len(data) * 8), H)
    want = (int.from_bytes(ecb(iv + b"\0\0\0\1"), "big") ^ y).to_bytes(16, "big")
    if want != tag:
        sys.exit("SM4-GCM tag does not match")
    n = (len(data) + 15) // 16
    stream = ecb(b"".join(iv + (i + 2).to_bytes(4, "big") for i in range(n)))
    body = bytes(a ^ b for a, b in zip(data, stream))
    how = "GCM in Python over cryptography's SM4"
print(how, file=sys.stderr)
sys.stdout.buffer.write(body)
PY
have_sm4_py=0
$PY -c 'from cryptography.hazmat.primitives.ciphers import algorithms; algorithms.SM4' \
    2>/dev/null && have_sm4_py=1

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
    if $PY -c 'import cryptography' 2>/dev/null; then
        $PY - "$K32" "$T/gcm.json" > "$T/gcm.out" <<'PY'
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

    # ---- SM4-CBC, upper-case hex, HMAC-SM3 over the envelope's fields ----
    "$TOOL" seal SM4-CBC "$K16" "$(openssl rand -hex 16)" "$HK" wire 应急APP "$ID" HMAC-SM3 HEX \
        < "$body" > "$T/sm4.json" || { bad "$name: seal SM4-CBC"; continue; }
    grep -qE '"iv":"[0-9A-F]{32}","data":"([0-9A-F]{32})+","sign":"[0-9a-f]{64}"}$' "$T/sm4.json" &&
        ok "$name: SM4-CBC iv and data in upper-case hex, no tag" ||
        bad "$name: SM4-CBC envelope not as documented: $(head -c 200 "$T/sm4.json")"
    [ "$(wire_sign "$T/sm4.json" "$HK" sm3)" = "$(field sign "$T/sm4.json")" ] &&
        ok "$name: HMAC-SM3 signature verified by openssl dgst -sm3" ||
        bad "$name: HMAC-SM3 signature differs from openssl's"
    [ "$(wire_sign "$T/sm4.json" "$HK" sha256)" != "$(field sign "$T/sm4.json")" ] ||
        bad "$name: HMAC-SM3 signature is HMAC-SHA256's"
    field data "$T/sm4.json" | basenc --base16 -d |
        openssl enc -d -sm4-cbc -K "$K16" -iv "$(field iv "$T/sm4.json")" \
        > "$T/sm4.out" 2>"$T/err" && cmp -s "$T/sm4.out" "$body" &&
        ok "$name: SM4-CBC decrypted by openssl enc -sm4-cbc, byte for byte" ||
        bad "$name: openssl enc -sm4-cbc could not decrypt: $(cat "$T/err")"
    flip "$T/sm4.json" data > "$T/sm4.bad"
    ! cmp -s "$T/sm4.bad" "$T/sm4.json" &&
        [ "$(wire_sign "$T/sm4.bad" "$HK" sm3)" != "$(field sign "$T/sm4.json")" ] &&
        ! "$TOOL" open SM4-CBC "$K16" "$HK" wire HMAC-SM3 HEX < "$T/sm4.bad" 2>/dev/null >&2 &&
        ok "$name: tampered SM4-CBC ciphertext fails openssl's HMAC-SM3 and envelope_open" ||
        bad "$name: SM4-CBC tampering went unnoticed"

    # ---- SM4-GCM, base64 and lowercase hex, HMAC-SM3 over the body ----
    for enc in base64 hex; do
        "$TOOL" seal SM4-GCM "$K16" "$(openssl rand -hex 12)" "$HK" body APP1 "$ID" HMAC-SM3 \
            "$enc" < "$body" > "$T/sg.json" || { bad "$name: seal SM4-GCM $enc"; continue; }
        if [ "$have_sm4_py" = 1 ]; then
            $PY "$T/sm4gcm.py" "$K16" "$T/sg.json" "$enc" > "$T/sg.out" 2>"$T/err" &&
                cmp -s "$T/sg.out" "$body" &&
                ok "$name: SM4-GCM ($enc) decrypted by $(cat "$T/err")" ||
                bad "$name: SM4-GCM ($enc) did not decrypt: $(cat "$T/err")"
            sig=$(openssl dgst -sm3 -mac HMAC -macopt "hexkey:$HK" < "$T/sg.out" | awk '{print $NF}')
            [ "$sig" = "$(field sign "$T/sg.json")" ] &&
                ok "$name: SM4-GCM body signature verified by openssl dgst -sm3" ||
                bad "$name: SM4-GCM body signature differs from openssl's"
            flip "$T/sg.json" tag > "$T/sg.bad"
            ! $PY "$T/sm4gcm.py" "$K16" "$T/sg.bad" "$enc" >/dev/null 2>&1 &&
                ! "$TOOL" open SM4-GCM "$K16" - body HMAC-SM3 "$enc" < "$T/sg.bad" 2>/dev/null >&2 &&
                ok "$name: tampered SM4-GCM tag refused by Python and envelope_open" ||
                bad "$name: SM4-GCM tag tampering went unnoticed"
        else
            echo "note: no SM4 in python3-cryptography: SM4-GCM decryption not checked"
        fi
    done

    # and our own opener agrees with all of it
    "$TOOL" open A256GCM "$K32" "$HK" wire < "$T/gcm.json" | cmp -s - "$body" &&
        "$TOOL" open A128CBC "$K16" "$HK" wire < "$T/cbc.json" | cmp -s - "$body" &&
        "$TOOL" open SM4-CBC "$K16" "$HK" wire HMAC-SM3 HEX < "$T/sm4.json" | cmp -s - "$body" &&
        "$TOOL" open SM4-GCM "$K16" "$HK" body HMAC-SM3 hex < "$T/sg.json" | cmp -s - "$body" &&
        ! "$TOOL" open A128CBC "$K16" "$HK" wire < "$T/cbc.bad" 2>/dev/null >&2 &&
        ok "$name: envelope_open agrees, and refuses the tampered one" ||
        bad "$name: envelope_open"
done

log "the agent: SM4-CBC / HMAC-SM3 / HEX (hazchem) and SM4-GCM / hex, body-signed (generic)"
SIM=$(free_port); MQ=$(free_port)
start_sim "$SIM" --static
"$BIN/ganzhi-sim" --static --values > "$T/expected.txt"
start_broker one "$MQ"
subscribe all "$MQ" '#' -v
KA=$(openssl rand -hex 16); KB=$(openssl rand -hex 16)
printf '%s\n' "$KA" > "$T/sm4a.key"; printf '%s\n' "$KB" > "$T/sm4b.key"
printf '部委-secret\n' > "$T/hmac.key"
chmod 600 "$T/sm4a.key" "$T/sm4b.key" "$T/hmac.key"
write_agent_conf "$T/agent.conf" "$SIM" "[uplink ministry]
url = mqtt://127.0.0.1:$MQ
profile = hazchem
topic_prefix = gm
app_id = 应急APP
envelope = SM4-CBC
envelope_key_file = $T/sm4a.key
sign_key_file = $T/hmac.key
sign_alg = HMAC-SM3
override.envelope.encoding = HEX" "[uplink aead]
url = mqtt://127.0.0.1:$MQ
topic_prefix = gcm
envelope = SM4-GCM
envelope_key_file = $T/sm4b.key
sign_key_file = $T/hmac.key
sign_over = body
sign_alg = HMAC-SM3
override.envelope.encoding = hex"
"$BIN/ganzhi" check -c "$T/agent.conf" || bad "check of the SM4 uplinks"
# check refuses, each at its line: a wrong encoding, a 32-byte key for SM4, a
# sign_alg with nothing to sign with
cp "$T/agent.conf" "$T/bad.conf"
openssl rand -hex 32 > "$T/long.key"; chmod 600 "$T/long.key"
sed -i -e 's/^override.envelope.encoding = HEX/override.envelope.encoding = Hex/' \
    -e "s|^envelope_key_file = $T/sm4b.key|envelope_key_file = $T/long.key|" "$T/bad.conf"
printf '\n[uplink lone]\nurl = mqtt://127.0.0.1:%s\nsign_alg = HMAC-SM3\n' "$MQ" >> "$T/bad.conf"
"$BIN/ganzhi" check -c "$T/bad.conf" > "$T/bad.out" 2>&1; rc=$?
cat "$T/bad.out"
line_of() { grep -n "^$1" "$T/bad.conf" | head -1 | cut -d: -f1; }
[ "$rc" = 2 ] || bad "check exit $rc on a bad configuration"
grep -q "bad.conf:$(line_of 'override.envelope.encoding'): override.envelope.encoding: 'Hex' is not an encoding" "$T/bad.out" &&
    grep -q "bad.conf:$(line_of "envelope_key_file = $T/long.key"): envelope_key_file: 32-byte key, SM4-GCM needs 16 (32 hex digits)" "$T/bad.out" &&
    grep -q "bad.conf:$(grep -n '^sign_alg' "$T/bad.conf" | tail -1 | cut -d: -f1): sign_alg = HMAC-SM3 without sign_key_file" "$T/bad.out" &&
    ok "check refuses a bad encoding, a long SM4 key and a lone sign_alg at their lines" ||
    bad "check did not report the SM4 mistakes at their lines"
"$BIN/ganzhi" check --keys | grep -qE '^ *sign_alg +enum +HMAC-SHA256 +HMAC-SHA256, HMAC-SM3' &&
    "$BIN/ganzhi" check --keys | grep -qE '^ *envelope +enum +none +none, A256GCM, A128CBC, SM4-CBC, SM4-GCM' &&
    ok "check --keys lists envelope's SM4 values and sign_alg" || bad "check --keys"

start_agent "$T/agent.conf"
sleep 4
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || bad "agent exit $?"
grep -m1 '^gm/realtime ' "$T/all.sub" | cut -d' ' -f2- > "$T/env.json"
grep -m1 '^gcm/realtime ' "$T/all.sub" | cut -d' ' -f2- > "$T/genv.json"
[ -s "$T/env.json" ] && [ -s "$T/genv.json" ] || { tail "$T/agent.log"; fail "no sealed messages captured"; }
head -c 300 "$T/env.json"; echo ...

# ---- the ministry uplink, by openssl alone ----
[ "$(field alg "$T/env.json")" = SM4-CBC ] && [ "$(field appId "$T/env.json")" = 应急APP ] &&
    grep -qE '"iv":"[0-9A-F]{32}","data":"([0-9A-F]{32})+","sign":"[0-9a-f]{64}"}$' "$T/env.json" &&
    ok "agent: SM4-CBC envelope, iv and data in upper-case hex" || bad "agent: envelope fields"
mine=$(printf '%s\n%s\n%s\n%s\n%s\n%s' "$(field appId "$T/env.json")" "$(field dataId "$T/env.json")" \
        "$(field alg "$T/env.json")" "$(field iv "$T/env.json")" "$(field data "$T/env.json")" "" |
       openssl dgst -sm3 -hmac '部委-secret' | awk '{print $NF}')
[ "$mine" = "$(field sign "$T/env.json")" ] && ok "agent: HMAC-SM3 verified by openssl dgst -sm3 -hmac" ||
    bad "agent: HMAC-SM3 signature does not verify with openssl ($mine)"
field data "$T/env.json" | basenc --base16 -d |
    openssl enc -d -sm4-cbc -K "$KA" -iv "$(field iv "$T/env.json")" > "$T/plain.json" 2>"$T/err" &&
    ok "agent: decrypted by openssl enc -d -sm4-cbc" || bad "agent: openssl cannot decrypt: $(cat "$T/err")"
"$BIN/ganzhi" validate --profile hazchem --kind realtime "$T/plain.json" > "$T/v.out" &&
    ok "agent: the decrypted body is a valid hazchem realtime message" ||
    { cat "$T/v.out"; bad "agent: the decrypted body does not validate"; }
$PY - "$T/plain.json" "$T/expected.txt" "$(field dataId "$T/env.json")" <<'PY' &&
import json, math, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
exp = dict((l.split()[0], float(l.split()[1])) for l in open(sys.argv[2]) if l.strip())
assert m["dataId"] == sys.argv[3], (m["dataId"], sys.argv[3])
assert m["enterpriseCode"] == "220102000001" and m["data"], m
n = 0
for r in m["data"]:
    if r["status"] == "0":
        assert math.isclose(float(r["value"]), exp[r["tagNo"]], rel_tol=1e-6, abs_tol=1e-9), r
        n += 1
assert n >= 10, n
print(f"{n} readings equal to the simulator's; dataId the envelope's")
PY
    ok "agent: the body holds the simulator's readings" || bad "agent: the body's readings"

# ---- the AEAD uplink: Python decrypts, openssl verifies the body's HMAC-SM3 ----
if [ "$have_sm4_py" = 1 ]; then
    grep -qE '"alg":"SM4-GCM","iv":"[0-9a-f]{24}","data":"([0-9a-f]{2})+","tag":"[0-9a-f]{32}","sign":"[0-9a-f]{64}"}$' "$T/genv.json" &&
        ok "agent: SM4-GCM envelope in lowercase hex" || bad "agent: SM4-GCM envelope fields"
    $PY "$T/sm4gcm.py" "$KB" "$T/genv.json" hex > "$T/gplain.json" 2>"$T/err" &&
        ok "agent: SM4-GCM decrypted by $(cat "$T/err")" || bad "agent: SM4-GCM: $(cat "$T/err")"
    sig=$(openssl dgst -sm3 -hmac '部委-secret' < "$T/gplain.json" | awk '{print $NF}')
    [ "$sig" = "$(field sign "$T/genv.json")" ] && ok "agent: body HMAC-SM3 verified by openssl" ||
        bad "agent: body HMAC-SM3 does not verify"
    $PY - "$T/gplain.json" "$T/expected.txt" <<'PY' && ok "agent: the generic body holds the simulator's readings" || bad "agent: generic body"
import json, math, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
exp = dict((l.split()[0], float(l.split()[1])) for l in open(sys.argv[2]) if l.strip())
good = [r for r in m["readings"] if r["quality"] == "good"]
for r in good:
    assert math.isclose(r["value"], exp[r["tag"]], rel_tol=1e-6, abs_tol=1e-9), r
assert m["enterprise"] == "220102000001" and len(good) >= 10, m
print(f"{len(good)} generic readings equal to the simulator's")
PY
else
    echo "note: no SM4 in python3-cryptography: the agent's SM4-GCM not decrypted"
fi
[ "$fail" = 0 ] && echo "all envelope checks passed"
exit "$fail"
