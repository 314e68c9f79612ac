/* unit_log: levels per component, the setting's checks, and identical errors
 * written once with the count of those held back. */
#include "tests/unit.h"
#include "agent/log.h"
#include <stdlib.h>
#include <unistd.h>

static char path[] = "/tmp/ganzhi-unit-log-XXXXXX";

/* Run fn with stderr going to a file; return what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char buf[8192];
    int fd = mkstemp(path), saved = dup(2);
    dup2(fd, 2);
    fn();
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    return buf;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void levels(void)
{
    log_configure("warn, uplink=debug, device=error");
    log_info("agent", NULL, "agent info");
    log_warn("agent", NULL, "agent warn");
    log_debug("uplink", "county", "uplink debug");
    log_warn("device", "plc", "device warn");
    log_error("device", "plc", "device error");
}

static void test_levels(void)
{
    const char *out = capture(levels);
    CHECK(!strstr(out, "agent info"));
    CHECK(strstr(out, "warn agent: agent warn\n"));
    CHECK(strstr(out, "debug uplink[county]: uplink debug\n"));
    CHECK(!strstr(out, "device warn"));
    CHECK(strstr(out, "error device[plc]: device error\n"));
}

static void repeats(void)
{
    log_configure("info");
    for (int i = 0; i < 5; i++)
        log_error("store", NULL, "disk full");
    log_error("store", NULL, "something else");
    for (int i = 0; i < 3; i++)
        log_info("alarm", "LT-101", "hi raised");   /* events are never held back */
}

static void test_repeats(void)
{
    const char *out = capture(repeats);
    CHECK(count(out, "disk full") == 1);
    CHECK(count(out, "something else") == 1);
    CHECK(count(out, "hi raised") == 3);
}

static void test_spec_check(void)
{
    char err[200];
    CHECK(log_spec_check("info", err, sizeof err) == 0);
    CHECK(log_spec_check("debug, uplink=warn ,device=error", err, sizeof err) == 0);
    CHECK(log_spec_check("verbose", err, sizeof err) == -1 && strstr(err, "not a level"));
    CHECK(log_spec_check("info, uplink=loud", err, sizeof err) == -1 && strstr(err, "component=level"));
    CHECK(log_spec_check("info, info", err, sizeof err) == -1);
    CHECK(log_spec_check("info, Uplink=debug", err, sizeof err) == -1);
}

int main(void)
{
    RUN(test_levels);
    RUN(test_repeats);
    RUN(test_spec_check);
    return UNIT_END();
}
