/* fuzz_command: a platform's command payload (command_parse with the README's
 * key, both HMACs; command_inspect, which reads without the key) and a reply to
 * verify (command_verify_reply), at a fixed "now": 2026-11-30T08:00:00+08:00. */
#include "tests/fuzz/fuzz_util.h"
#include "proto/command.h"

static const unsigned char key[] = "ganzhi-command-key-demo-0001";
#define NOW_MS 1795996800000LL

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    char reason[512];
    for (int a = 0; a < 2; a++) {
        struct command_key k = { a ? MAC_HMAC_SM3 : MAC_HMAC_SHA256, key, sizeof key - 1 };
        struct command c;
        memset(&c, 0, sizeof c);
        command_parse(p, size, &k, NOW_MS, 300000, 7 * 86400000LL, &c, reason, sizeof reason);
        if (c.nnames && !c.names)
            abort();
        command_free(&c);
        cJSON *obj = NULL;
        command_verify_reply(p, size, &k, &obj, reason, sizeof reason);
        cJSON_Delete(obj);
    }
    struct command c;
    memset(&c, 0, sizeof c);
    if (command_inspect(p, size, NOW_MS, 300000, 7 * 86400000LL, &c, reason, sizeof reason) ==
        COMMAND_OK) {
        if (!c.id[0] || c.kind == COMMAND_NONE)
            abort();
        for (size_t i = 0; i < c.nnames; i++)
            if (!c.names[i] || !c.names[i][0])
                abort();
    }
    command_free(&c);
    free(p);
    return 0;
}
