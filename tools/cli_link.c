/* cli_link: a link to a configured device for read, probe and scan, whatever
 * carries it (Modbus TCP, RTU on a serial port, RTU framing over TCP dialled
 * out); for a DTU that dials in (listen =), a listener of our own on the
 * device's listen address and a wait for that DTU to register. */
#include "tools/cli.h"
#include "core/clock.h"
#include "core/num.h"
#include "agent/device.h"
#include "drivers/dtu_listen.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_held_hint(int e)
{
    return e == EADDRINUSE
        ? ": the port is held (is ganzhi-agent running? stop it, or use `ganzhi status`)" : "";
}

int cli_wait_parse(const char *cmd, const char *val, int64_t *ms)
{
    char err[128];
    double s;
    if (!val || num_parse_double(val, &s, err, sizeof err) || s < 0 || s > 86400) {
        fprintf(stderr, "ganzhi %s: --wait takes seconds, 0 to 86400%s%s\n", cmd,
                val ? ": " : "", val ? val : "");
        return -1;
    }
    *ms = (int64_t)(s * 1000);
    return 0;
}

/* From the listener's thread: who is dialling in while we wait (and after). */
static void on_dtu_event(void *arg, enum dtu_event ev, const char *peer, const char *what)
{
    const struct cli_link *cl = arg;
    const char *want = cl->slot ? dtu_slot_name(cl->slot) : "?";
    switch (ev) {
    case DTU_REGISTERED:
        fprintf(stderr, "ganzhi %s: %s dialled in: DTU %s registered\n", cl->cmd, peer, what);
        break;
    case DTU_REPLACED:
        fprintf(stderr, "ganzhi %s: %s dialled in: DTU %s again (replaces its connection)\n",
                cl->cmd, peer, what);
        break;
    case DTU_UNKNOWN:
        fprintf(stderr, "ganzhi %s: %s dialled in and registered as '%s', not DTU %s: refused\n",
                cl->cmd, peer, what, want);
        break;
    case DTU_NO_REGISTRATION:
        if (what[0])
            fprintf(stderr, "ganzhi %s: %s dialled in and sent only '%s', not DTU %s: refused\n",
                    cl->cmd, peer, what, want);
        else
            fprintf(stderr, "ganzhi %s: %s dialled in but sent no registration: refused\n",
                    cl->cmd, peer);
        break;
    case DTU_FULL:
        fprintf(stderr, "ganzhi %s: %s dialled in: too many connections waiting to register, "
                "refused\n", cl->cmd, peer);
        break;
    }
}

/* Listen on cd's address and wait up to wait_ms for its DTU. 0, or 1 said. */
static int dial_in(struct cli_link *cl, const struct conf *c, const struct conf_device *cd,
                   int64_t wait_ms)
{
    struct dtu_listen_params lp = {
        .host = cd->listen_host, .port = cd->listen_port,
        .register_timeout_ms = c->agent.dtu_register_timeout_ms,
        .pending_max = c->agent.dtu_pending_max, .on_event = on_dtu_event, .event_arg = cl,
    };
    char err[300];
    if (!(cl->listener = dtu_listen_open(&lp, err, sizeof err))) {
        fprintf(stderr, "ganzhi %s: %s: cannot listen for its DTU: %s%s\n", cl->cmd, cd->name,
                err, cli_held_hint(errno));
        return 1;
    }
    cl->slot = dtu_listen_expect(cl->listener, cd->dtu_id, cd->dtu_id_len,
                                 cd->heartbeat_len ? cd->heartbeat_bytes : NULL, cd->heartbeat_len);
    if (!cl->slot || dtu_listen_start(cl->listener, err, sizeof err)) {
        fprintf(stderr, "ganzhi %s: %s: %s\n", cl->cmd, cd->name, cl->slot ? err : "out of memory");
        return 1;
    }
    cl->p.dtu = cl->slot;
    if (!(cl->link = mb_link_new(&cl->p, err, sizeof err))) {
        fprintf(stderr, "ganzhi %s: %s: %s\n", cl->cmd, cd->name, err);
        return 1;
    }
    if (cl->trace)
        mb_link_set_trace(cl->link, cl->trace);
    const char *name = dtu_slot_name(cl->slot), *addr = dtu_listen_address(cl->listener);
    fprintf(stderr, "ganzhi %s: waiting up to %s s for DTU %s to dial in to %s\n", cl->cmd,
            cli_number((double)wait_ms / 1000.0, (char[32]){ 0 }), name, addr);
    int64_t end = mono_ms() + wait_ms;
    for (;;) {
        if (mb_link_connect(cl->link, err, sizeof err) == MB_OK)
            return 0;
        if (mono_ms() >= end)
            break;
        sleep_us(20000);
    }
    fprintf(stderr, "ganzhi %s: %s: DTU %s did not dial in to %s within %s s\n", cl->cmd, cd->name,
            name, addr, cli_number((double)wait_ms / 1000.0, (char[32]){ 0 }));
    return 1;
}

int cli_link_open(struct cli_link *cl, const char *cmd, const struct conf *c,
                  const struct conf_device *cd, int64_t wait_ms, FILE *trace)
{
    cl->cmd = cmd;
    cl->trace = trace;
    cl->link = NULL;
    cl->listener = NULL;
    cl->slot = NULL;
    if (cd) {
        device_link_params(cd, &cl->p);
        if (cd->listen)
            return dial_in(cl, c, cd, wait_ms);
    }
    char err[300];
    if (!(cl->link = mb_link_new(&cl->p, err, sizeof err))) {
        fprintf(stderr, "ganzhi %s: %s%s%s\n", cmd, cd ? cd->name : "", cd ? ": " : "", err);
        return 1;
    }
    if (trace)
        mb_link_set_trace(cl->link, trace);
    return 0;
}

void cli_link_close(struct cli_link *cl)
{
    mb_link_free(cl->link);     /* before the listener: the link holds a connection it took */
    dtu_listen_free(cl->listener);
    cl->link = NULL;
    cl->listener = NULL;
    cl->slot = NULL;
}
