#!/bin/bash
# mqtts:// with a throwaway CA, server and client certificates made here: the agent
# publishes over TLS to a mosquitto that requires a client certificate; an agent
# without a certificate is refused and says so; a broker whose certificate does
# not name the host in the URL is refused (hostname verification is on).
source "$(dirname "$0")/lib.sh"

SIM=$(free_port); TLS=$(free_port); PLAIN=$(free_port)
log "making a CA, a server certificate for localhost and a client certificate"
make_pki

start_sim "$SIM" --static
start_broker tls "$PLAIN" \
    "listener $TLS 127.0.0.1" "cafile $P/ca.pem" "certfile $P/server.pem" \
    "keyfile $P/server.key" "require_certificate true" "tls_version tlsv1.2"
wait_for 10 port_open "$TLS" || fail "TLS listener"
subscribe one "$PLAIN" 'ganzhi/220102000001/realtime'

write_agent_conf "$T/agent.conf" "$SIM" \
"[uplink county]
url = mqtts://localhost:$TLS
ca_file = $P/ca.pem
cert_file = $P/client.pem
key_file = $P/client.key"
start_agent "$T/agent.conf"
wait_for 20 test -s "$T/one.sub" || { cat "$T/agent.log" "$T/tls/log"; fail "nothing arrived over TLS"; }
sleep 1
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit status $?"
check_seq "$T/one.sub" || fail "seqs over TLS"
grep -q "connected to ssl://localhost:$TLS" "$T/agent.log" || fail "no TLS connection logged"

log "an agent without a client certificate is refused"
mv "$T/agent.log" "$T/agent-ok.log"
write_agent_conf "$T/nocert.conf" "$SIM" \
"[uplink county]
url = mqtts://localhost:$TLS
ca_file = $P/ca.pem"
start_agent "$T/nocert.conf"
refused() { grep -q "uplink\[county\]: .*TLS" "$T/agent.log"; }
wait_for 15 refused || { cat "$T/agent.log"; fail "the refusal was not reported as a TLS failure"; }
kill -0 "$AGENT_PID" || fail "the agent exited on a refused connection"
grep "uplink\[county\]" "$T/agent.log" | head -3
grep -q "connected to" "$T/agent.log" && fail "a client without a certificate got connected"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"

log "a broker certificate that does not name the host is refused"
mv "$T/agent.log" "$T/agent-nocert.log"
write_agent_conf "$T/wrongname.conf" "$SIM" \
"[uplink county]
url = mqtts://127.0.0.1:$TLS
ca_file = $P/ca.pem
cert_file = $P/client.pem
key_file = $P/client.key"
start_agent "$T/wrongname.conf"
wait_for 15 refused || { cat "$T/agent.log"; fail "hostname mismatch not reported"; }
grep "uplink\[county\]" "$T/agent.log" | head -3
grep -q "connected to" "$T/agent.log" && fail "connected to a broker whose certificate names another host"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
echo PASS
