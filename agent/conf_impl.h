/*
 * conf_impl: what the pieces of the configuration loader share; not an interface.
 *   conf.c         conf_load: sections into structs, cross-references, diagnostics
 *   conf_ini.c     agent.conf lexing: sections and `key = value` lines, with line numbers
 *   conf_csv.c     point tables: UTF-8 or GB 18030, RFC 4180 records, header by name,
 *                  one conf_point a row
 *   conf_schema.c  the key tables that drive parsing, defaults, hints and the help text
 */
#ifndef GANZHI_CONF_IMPL_H
#define GANZHI_CONF_IMPL_H

#include "agent/conf.h"
#include <stdbool.h>

/* A configuration is a few KB and a point table a few MB; anything bigger is a
 * wrong path (a log, a device node), and reading it whole would only hurt. */
#define CONF_FILE_MAX ((size_t)16 << 20)

/* What a point table looked like, kept past parsing for the profile checks. */
struct conf_table {
    const char *file;       /* owned by conf->files; NULL when the table was not read */
    int header_line;
    char **cols;            /* column names as written in the header */
    size_t ncols;
    bool ok;                /* the header was usable, rows were parsed */
    size_t nrows;           /* data rows seen, good or bad */
};

/* One diagnostic with where it sorts: by file (order first read), then line. */
struct conf_diag_key {
    size_t file, line, seq;
};

struct conf_loader {
    struct conf *c;
    struct conf_diag *diag;
    struct conf_diag_key *keys; /* parallel to diag->lines */
    size_t nerr;            /* errors found, counted even when one could not be stored */
    bool oom;
    const char *path;       /* the conf file (owned by c->files) */
    char *dir;              /* its directory with a trailing '/', "" for the cwd */
};

/* Record "FILE:LINE: message" (line 0: "FILE: message"). */
void conf__err(struct conf_loader *L, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Record "FILE: notice: message", once (a table two devices read is noted once). */
void conf__note(struct conf_loader *L, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Allocation failure is itself a configuration error: the load fails, once. */
void conf__oom(struct conf_loader *L);
char *conf__strdup(struct conf_loader *L, const char *s);
/* Keep a copy of `path` in conf->files; the copy is what `file` fields point to. */
const char *conf__file(struct conf_loader *L, const char *path);
/* `p` relative to the conf file's directory unless absolute; malloc'd. */
char *conf__resolve(struct conf_loader *L, const char *p);
/* Read a whole regular file, NUL-terminated. 0, or -1 with the reason in err. */
int conf__read(const char *path, char **buf, size_t *len, char *err, size_t errlen);
/* 0 when `path` is a regular file we can open for reading, else -1 and why. */
int conf__readable(const char *path, char *err, size_t errlen);
/* Report every line of buf that is not valid UTF-8 (or holds a NUL byte). */
void conf__utf8_check(struct conf_loader *L, const char *file, const char *buf, size_t len);
/* Bytes to skip for a UTF-8 byte order mark at the start of buf. */
size_t conf__bom(const char *buf, size_t len);
/* Edit distance, for "did you mean" hints. */
size_t conf__distance(const char *a, const char *b);

/* --- conf_ini.c ------------------------------------------------------------ */
enum conf_sec { CONF_SEC_AGENT, CONF_SEC_DEVICE, CONF_SEC_UPLINK };

struct ini_entry {
    char *key, *value;
    int line;
};

struct ini_section {
    enum conf_sec kind;
    char *name;             /* NULL for [agent] */
    int line;
    struct ini_entry *e;
    size_t n;
};

struct ini {
    struct ini_section *s;
    size_t n;
};

/* Lex `file` into sections; every syntax error goes to L. Sections with a bad
 * header are left out (their keys are skipped, not reported one by one).
 * -1 when the file could not be read at all. */
int conf__ini_parse(struct conf_loader *L, const char *file, struct ini *out);
void conf__ini_free(struct ini *ini);
const struct ini_entry *conf__ini_get(const struct ini_section *s, const char *key);

/* --- conf_schema.c --------------------------------------------------------- */
/* Which driver's keys apply to a [device]; 0 when the driver is unknown. */
#define CONF_APPLIES_TCP     0x02u
#define CONF_APPLIES_RTU     0x04u
#define CONF_APPLIES_RTU_TCP 0x10u

/* Set obj's fields from the section's entries, apply defaults, report unknown,
 * misplaced, missing and bad keys. */
void conf__apply(struct conf_loader *L, enum conf_sec sec, const struct ini_section *s,
                 void *obj, unsigned applies);
/* Free what the schema allocated in obj (strings, url lists). */
void conf__schema_free(enum conf_sec sec, void *obj);

/* --- conf_csv.c ------------------------------------------------------------ */
/* Read d->points_file into d->points. `points_line` is the `points =` line in
 * the conf file, where an unreadable or empty table is reported. */
void conf__points_load(struct conf_loader *L, struct conf_device *d, int points_line,
                       struct conf_table *t);
void conf__table_free(struct conf_table *t);

#endif
