/* uplink_mqtt: the MQTT transport (paho MQTTAsync, MQTT 3.1.1, QoS 1 PUBACKs as
 * acknowledgements), and the connect options the agent uses, which `ganzhi
 * uplink` builds through the same function so that its test is the agent's. */
#ifndef GANZHI_UPLINK_MQTT_H
#define GANZHI_UPLINK_MQTT_H

#include <MQTTAsync.h>
#include <stddef.h>
#include "agent/conf.h"
#include "agent/uplink_transport.h"

/* paho keeps pointers into this while it connects: do not copy it. */
struct mqtt_connect_options {
    MQTTAsync_connectOptions co;
    MQTTAsync_SSLOptions so;
};

/* The agent's options for uplink cu: clean session, our own reconnects (paho's
 * waits up to a minute), keepalive, credentials, paho's window of max_inflight
 * (and two besides), and with tls TLS 1.2 with the broker's certificate verified
 * against ca_file and its name against the host, our certificate and key. The
 * caller sets the callbacks, their context, ssl_error_cb and the server list. */
void uplink_mqtt_options(const struct conf_uplink *cu, int tls, struct mqtt_connect_options *o);

/* A transport for cu's mqtt:// and mqtts:// urls (failover in order). NULL with
 * err when paho cannot make a client. */
struct transport *uplink_mqtt_open(const struct conf_uplink *cu, const struct transport_events *ev,
                                   char *err, size_t errlen);

#endif
