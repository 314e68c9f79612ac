/*
 * conf_csv: point tables (点表). RFC 4180 records (quoted fields may hold commas,
 * doubled quotes and line breaks; CRLF tolerated), a header row naming the
 * columns in any order, `#` comment lines and blank lines skipped. Each row
 * becomes one conf_point; every bad cell is reported at the row's line. A
 * table is read in UTF-8 or GB 18030 as `points_charset` says, and converted
 * to UTF-8 before it is parsed.
 */
#include "agent/conf_impl.h"
#include "agent/conf_pool.h"
#include "core/num.h"
#include "proto/charset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct csv {
    const char *p, *end;
    int line;               /* line of *p */
};

struct csv_row {
    int line;               /* where the record starts */
    char **f;
    size_t n;
};

static void row_free(struct csv_row *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i]);
    free(r->f);
    r->f = NULL;
    r->n = 0;
}

static void skip_line(struct csv *c)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->p = nl ? nl + 1 : c->end;
    c->line++;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Next record into row: 1, 0 at the end, -1 with err (the rest of the line is
 * skipped, row->line says where) or -2 out of memory. */
static int csv_next(struct csv *c, struct csv_row *row, char *err, size_t errlen)
{
    /* skip blank and comment lines */
    for (;;) {
        if (c->p >= c->end)
            return 0;
        const char *q = c->p;
        while (q < c->end && (is_blank(*q) || *q == '\r'))
            q++;
        if (q < c->end && *q != '\n' && *q != '#')
            break;
        skip_line(c);
    }
    row->line = c->line;
    row->f = NULL;
    row->n = 0;
    for (;;) {
        const char *q = c->p;
        while (q < c->end && is_blank(*q))
            q++;
        char *field;
        if (q < c->end && *q == '"') {
            int start = c->line;
            size_t cap = 32, n = 0;
            if (!(field = malloc(cap)))
                goto oom;
            for (q++; ; q++) {
                if (q >= c->end) {
                    free(field);
                    snprintf(err, errlen, "quoted field opened at line %d is never closed", start);
                    c->p = c->end;
                    goto fail;
                }
                if (*q == '"') {
                    if (q + 1 < c->end && q[1] == '"')
                        q++;            /* "" is a literal quote */
                    else
                        break;
                }
                if (*q == '\n')
                    c->line++;
                if (n + 2 > cap) {
                    char *nf = realloc(field, cap *= 2);
                    if (!nf) {
                        free(field);
                        goto oom;
                    }
                    field = nf;
                }
                field[n++] = *q;
            }
            field[n] = 0;
            q++;
            while (q < c->end && (is_blank(*q) || *q == '\r'))
                q++;
            if (q < c->end && *q != ',' && *q != '\n') {
                free(field);
                c->p = q;
                skip_line(c);
                snprintf(err, errlen, "text after a closing quote (expected ',' or the end of the line)");
                goto fail;
            }
        } else {
            const char *s = q;
            while (q < c->end && *q != ',' && *q != '\n')
                q++;
            const char *e = q;
            while (e > s && (is_blank(e[-1]) || e[-1] == '\r'))
                e--;
            if (!(field = strndup(s, (size_t)(e - s))))
                goto oom;
        }
        char **nf = realloc(row->f, (row->n + 1) * sizeof *nf);
        if (!nf) {
            free(field);
            goto oom;
        }
        row->f = nf;
        row->f[row->n++] = field;
        if (q < c->end && *q == ',') {
            c->p = q + 1;
            continue;
        }
        c->p = q < c->end ? q + 1 : c->end;
        c->line++;
        return 1;
    }
fail:
    row_free(row);
    return -1;
oom:
    row_free(row);
    return -2;
}

enum col {
    COL_TAG, COL_NAME, COL_AREA, COL_ADDRESS, COL_TYPE, COL_ORDER, COL_SCALE, COL_OFFSET,
    COL_UNIT, COL_DEADBAND, COL_LOLO, COL_LO, COL_HI, COL_HIHI, COL_HYSTERESIS, COL_DELAY,
    NCOLS
};

static const char *const col_names[NCOLS] = {
    "tag", "name", "area", "address", "type", "order", "scale", "offset",
    "unit", "deadband", "lolo", "lo", "hi", "hihi", "hysteresis", "delay",
};
static const enum col required_cols[] = { COL_TAG, COL_AREA, COL_ADDRESS, COL_TYPE };

void conf__table_free(struct conf_table *t)
{
    for (size_t i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

/* A number cell, `def` when empty. */
static int num_cell(struct conf_loader *L, const char *file, int line, const char *col,
                    const char *v, double def, double *out)
{
    char err[256];
    if (!*v) {
        *out = def;
        return 0;
    }
    if (num_parse_double(v, out, err, sizeof err) < 0) {
        conf__err(L, file, line, "column '%s': %s", col, err);
        return -1;
    }
    return 0;
}

/* Parse one row into p; every bad cell is reported. 0 when the row is good. */
static int parse_point(struct conf_loader *L, const char *file, const struct csv_row *r,
                       const int *idx, const struct conf_table *t, char *const *keys,
                       struct conf_pool **pool, struct conf_point *p)
{
    const char *cell[NCOLS];
    char err[256];
    int bad = 0;
    for (int i = 0; i < NCOLS; i++)
        cell[i] = idx[i] >= 0 ? r->f[idx[i]] : "";
    int line = r->line;

    p->line = line;
    if (!*cell[COL_TAG]) {
        conf__err(L, file, line, "column 'tag': empty (every point needs a tag)");
        bad = 1;
    }
    /* The three strings together, in the device's pool. */
    size_t ltag = strlen(cell[COL_TAG]) + 1, lname = strlen(cell[COL_NAME]) + 1;
    if (ltag > CONF_TAG_MAX + 1) {
        conf__err(L, file, line, "column 'tag': %zu bytes, longer than %d", ltag - 1,
                  CONF_TAG_MAX);
        bad = 1;
        ltag = 1;   /* kept empty: not a tag to compare */
        cell[COL_TAG] = "";
    }
    char *strs = conf_pool_alloc(pool, ltag + lname + strlen(cell[COL_UNIT]) + 1, 1);
    if (!strs) {
        conf__oom(L);
        return -1;
    }
    p->tag = strcpy(strs, cell[COL_TAG]);
    strcpy(strs + ltag, cell[COL_NAME]);
    strcpy(strs + ltag + lname, cell[COL_UNIT]);
    p->name_at = (uint16_t)ltag;

    bool area_ok = mb_area_parse(cell[COL_AREA], &p->addr.area) == 0;
    if (!area_ok) {
        conf__err(L, file, line, "column 'area': '%s' is not an area (coil, discrete, input, holding)",
                  cell[COL_AREA]);
        bad = 1;
    }
    bool type_ok = mb_type_parse(cell[COL_TYPE], &p->addr.type, &p->addr.bit) == 0;
    if (!type_ok) {
        conf__err(L, file, line, "column 'type': '%s' is not a type (bool, int16, uint16, int32, uint32, "
                  "int64, uint64, float32, float64, bit:N with N 0..15)", cell[COL_TYPE]);
        bad = 1;
    } else if (area_ok && mb_is_bit_area(p->addr.area) && p->addr.type != MB_BOOL) {
        conf__err(L, file, line, "column 'type': '%s' on a %s point (coil and discrete points are bool)",
                  cell[COL_TYPE], mb_area_name(p->addr.area));
        type_ok = false;
        bad = 1;
    }
    long addr;
    if (num_parse_long(cell[COL_ADDRESS], 0, 65535, &addr, err, sizeof err) < 0) {
        conf__err(L, file, line, "column 'address': %s", err);
        bad = 1;
    } else {
        p->addr.address = (uint16_t)addr;
        if (type_ok && addr + (long)mb_width(&p->addr) - 1 > 65535) {
            conf__err(L, file, line, "column 'address': %s at %ld runs past address 65535 (it takes %u registers)",
                      mb_type_name(p->addr.type), addr, mb_width(&p->addr));
            bad = 1;
        }
    }
    if (!*cell[COL_ORDER]) {
        p->addr.order = MB_ABCD;
    } else if (mb_order_parse(cell[COL_ORDER], &p->addr.order) < 0) {
        conf__err(L, file, line, "column 'order': '%s' is not an order (ABCD, CDAB, BADC, DCBA)",
                  cell[COL_ORDER]);
        bad = 1;
    }

    if (num_cell(L, file, line, "scale", cell[COL_SCALE], 1, &p->scale) < 0) {
        bad = 1;
    } else if (p->scale == 0) {
        conf__err(L, file, line, "column 'scale': '%s' is zero (expected a non-zero number)", cell[COL_SCALE]);
        bad = 1;
    }
    bad |= num_cell(L, file, line, "offset", cell[COL_OFFSET], 0, &p->offset) < 0;
    struct conf_limits lim = { NAN, NAN, NAN, NAN, NAN, 0 };
    static const enum col nonneg[] = { COL_DEADBAND, COL_HYSTERESIS };
    double *nonneg_out[] = { &p->deadband, &lim.hysteresis };
    for (int i = 0; i < 2; i++) {
        enum col c = nonneg[i];
        if (num_cell(L, file, line, col_names[c], cell[c], c == COL_DEADBAND ? 0 : NAN, nonneg_out[i]) < 0)
            bad = 1;
        else if (*nonneg_out[i] < 0) {
            conf__err(L, file, line, "column '%s': '%s' is negative (expected >= 0)", col_names[c], cell[c]);
            bad = 1;
        }
    }

    /* thresholds: each present one at least the one before it */
    static const enum col thr[] = { COL_LOLO, COL_LO, COL_HI, COL_HIHI };
    double *thr_out[] = { &lim.lolo, &lim.lo, &lim.hi, &lim.hihi };
    int prev = -1;
    for (int i = 0; i < 4; i++) {
        if (num_cell(L, file, line, col_names[thr[i]], cell[thr[i]], NAN, thr_out[i]) < 0) {
            bad = 1;
            *thr_out[i] = NAN;
            continue;
        }
        if (isnan(*thr_out[i]))
            continue;
        if (prev >= 0 && *thr_out[i] < *thr_out[prev]) {
            conf__err(L, file, line, "column '%s': %g is below %s %g (expected lolo <= lo <= hi <= hihi)",
                      col_names[thr[i]], *thr_out[i], col_names[thr[prev]], *thr_out[prev]);
            bad = 1;
        }
        prev = i;
    }

    lim.delay_ms = 0;
    if (*cell[COL_DELAY] && conf_parse_duration(cell[COL_DELAY], &lim.delay_ms, err, sizeof err) < 0) {
        conf__err(L, file, line, "column 'delay': %s", err);
        bad = 1;
    }
    if (!isnan(lim.lolo) || !isnan(lim.lo) || !isnan(lim.hi) || !isnan(lim.hihi) ||
        !isnan(lim.hysteresis) || lim.delay_ms) {
        if (!(p->limits = conf_pool_alloc(pool, sizeof *p->limits, _Alignof(struct conf_limits)))) {
            conf__oom(L);
            return -1;
        }
        *p->limits = lim;
    }

    /* metadata: every other column with a value (keys: the table's names,
     * kept once in the pool) */
    size_t nmeta = 0;
    for (size_t i = 0; i < t->ncols && nmeta < UINT16_MAX; i++)
        nmeta += keys[i] && *r->f[i];
    if (nmeta) {
        p->meta = conf_pool_alloc(pool, nmeta * sizeof *p->meta, _Alignof(struct conf_kv));
        if (!p->meta) {
            conf__oom(L);
            return -1;
        }
        for (size_t i = 0; i < t->ncols && p->nmeta < nmeta; i++) {
            if (!keys[i] || !*r->f[i])
                continue;
            char *v = conf_pool_strdup(pool, r->f[i]);
            if (!v) {
                conf__oom(L);
                return -1;
            }
            p->meta[p->nmeta++] = (struct conf_kv){ keys[i], v };
        }
    }
    return bad || L->oom ? -1 : 0;
}

/* Map the header's names to columns; report what is wrong with it. */
static int parse_header(struct conf_loader *L, const char *file, struct csv_row *r,
                        struct conf_table *t, int *idx)
{
    int bad = 0;
    for (int c = 0; c < NCOLS; c++)
        idx[c] = -1;
    for (size_t i = 0; i < r->n; i++) {
        if (!*r->f[i]) {
            conf__err(L, file, r->line, "column %zu of the header has no name", i + 1);
            bad = 1;
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->f[i], r->f[j]) == 0) {
                conf__err(L, file, r->line, "column '%s' appears twice in the header (columns %zu and %zu)",
                          r->f[i], j + 1, i + 1);
                bad = 1;
            }
        for (int c = 0; c < NCOLS; c++)
            if (strcmp(r->f[i], col_names[c]) == 0)
                idx[c] = (int)i;
    }
    for (size_t i = 0; i < sizeof required_cols / sizeof required_cols[0]; i++)
        if (idx[required_cols[i]] < 0) {
            conf__err(L, file, r->line, "missing required column '%s' (a point table needs tag, area, "
                      "address and type)", col_names[required_cols[i]]);
            bad = 1;
        }
    /* the header's strings move to the table: the profile checks need them */
    t->cols = r->f;
    t->ncols = r->n;
    t->header_line = r->line;
    r->f = NULL;
    r->n = 0;
    return bad ? -1 : 0;
}

/* Where conversion found bytes that are not GB 18030: each line reported once. */
struct gb_bad {
    struct conf_loader *L;  /* NULL: only count */
    const char *file, *buf;
    size_t pos;             /* offsets before pos are counted into line */
    int line, reported;
    size_t n;
};

static void gb_bad_at(void *arg, size_t off)
{
    struct gb_bad *b = arg;
    for (; b->pos < off; b->pos++)
        b->line += b->buf[b->pos] == '\n';
    b->n++;
    if (b->L && b->reported != b->line)
        conf__err(b->L, b->file, b->line, "not valid GB 18030 (points_charset = %s; save the "
                  "file as UTF-8, or set points_charset = auto)", b->L->c->agent.points_charset);
    b->reported = b->line;
}

static bool ascii(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] >= 0x80)
            return false;
    return true;
}

/* Report every line holding a NUL byte; how many there are. */
static size_t nul_lines(struct conf_loader *L, const char *file, const char *buf, size_t len)
{
    size_t n = 0;
    int line = 1, reported = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n')
            line++;
        else if (!buf[i] && reported != line) {
            conf__err(L, file, line, "holds a NUL byte (UTF-16 text? save the table as CSV in "
                      "UTF-8 or GBK)");
            reported = line;
            n++;
        }
    }
    return n;
}

/* The table in buf as UTF-8: buf itself, or a converted copy (buf then freed).
 * Every line that is not in the charset is reported; NULL when out of memory.
 * GB 18030 is converted whole: its multi-byte characters never hold a '\n'
 * byte, so line numbers stay those of the file. */
static char *points_text(struct conf_loader *L, const char *file, char *buf, size_t *len)
{
    const char *cs = L->c->agent.points_charset ? L->c->agent.points_charset : "auto";
    bool autod = strcmp(cs, "auto") == 0;
    if (!autod && strcmp(cs, "gbk") && strcmp(cs, "gb18030")) {
        conf__utf8_check(L, file, buf, *len);   /* utf-8 */
        return buf;
    }
    bool bom = conf__bom(buf, *len) > 0, utf8 = charset_utf8_valid(buf, *len);
    bool nul = memchr(buf, 0, *len) != NULL;
    if (autod && (bom || nul || utf8)) {
        /* A byte order mark says UTF-8; a NUL byte is neither charset. */
        conf__utf8_check(L, file, buf, *len);
        return buf;
    }
    if (!autod && bom) {
        conf__err(L, file, 1, "starts with a UTF-8 byte order mark, but points_charset = %s "
                  "(set points_charset = auto or utf-8)", cs);
        return buf;
    }
    if (!autod && nul_lines(L, file, buf, *len))
        return buf;
    struct gb_bad bad = { .L = autod ? NULL : L, .file = file, .buf = buf, .line = 1 };
    size_t olen;
    char *out = charset_to_utf8_checked("GB18030", buf, *len, &olen, gb_bad_at, &bad);
    if (!out) {
        conf__oom(L);
        free(buf);
        return NULL;
    }
    if (autod && bad.n) {
        /* Neither UTF-8 nor GB 18030: say what today's tables should be. */
        free(out);
        conf__utf8_check(L, file, buf, *len);
        return buf;
    }
    if (autod)
        conf__note(L, file, "read as GB 18030 (GBK), as it is not valid UTF-8 "
                   "(points_charset = auto)");
    else if (utf8 && !ascii(buf, *len))
        conf__note(L, file, "is valid UTF-8 but read as GB 18030, as points_charset = %s says; "
                   "if its names look garbled, set points_charset = auto", cs);
    free(buf);
    *len = olen;
    return out;
}

void conf__points_load(struct conf_loader *L, struct conf_device *d, int points_line,
                       struct conf_table *t)
{
    char *buf, err[256], **keys = NULL;
    size_t len;
    struct csv c;
    struct csv_row r = { 0 };
    int rc, idx[NCOLS];
    size_t cap = d->npoints;    /* room in d->points */
    if (conf__read(d->points_file, &buf, &len, err, sizeof err) < 0) {
        conf__err(L, L->path, points_line, "points: cannot read '%s' (%s)", d->points_file, err);
        return;
    }
    const char *file = conf__file(L, d->points_file);
    if (!file)
        goto out_free_buf;
    t->file = file;
    d->table = file;
    if (!(buf = points_text(L, file, buf, &len)))
        return;

    c = (struct csv){ .p = buf + conf__bom(buf, len), .end = buf + len, .line = 1 };
    while ((rc = csv_next(&c, &r, err, sizeof err)) == -1)
        conf__err(L, file, r.line, "%s", err);
    if (rc == -2)
        goto out_oom;
    if (rc == 0) {
        conf__err(L, L->path, points_line, "points: '%s' is empty (expected a header row: "
                  "tag,area,address,type,...)", d->points_file);
        goto out_free_buf;
    }
    rc = parse_header(L, file, &r, t, idx);
    row_free(&r);
    if (rc < 0)
        goto out_free_buf;
    t->ok = true;
    /* The names of the other columns, once: every point's metadata keys. */
    keys = calloc(t->ncols ? t->ncols : 1, sizeof *keys);
    if (!keys)
        goto out_oom;
    for (size_t i = 0; i < t->ncols; i++) {
        bool builtin = false;
        for (int k = 0; k < NCOLS; k++)
            builtin |= idx[k] == (int)i;
        if (!builtin && !(keys[i] = conf_pool_strdup(&d->pool, t->cols[i])))
            goto out_oom;
    }

    while ((rc = csv_next(&c, &r, err, sizeof err)) != 0) {
        if (rc == -2)
            goto out_oom;
        if (rc == -1) {
            conf__err(L, file, r.line, "%s", err);
            t->nrows++;
            continue;
        }
        t->nrows++;
        if (r.n != t->ncols) {
            conf__err(L, file, r.line, "row has %zu fields but the header has %zu", r.n, t->ncols);
            row_free(&r);
            continue;
        }
        /* A bad row is kept when it has a tag: the load fails anyway, and the
         * site-wide checks (duplicate tags, profile columns) still see it, so one
         * run reports everything. */
        struct conf_point p = { 0 };
        int prc = parse_point(L, file, &r, idx, t, keys, &d->pool, &p);
        row_free(&r);
        if (prc < 0 && (L->oom || !p.tag || !*p.tag))
            continue;   /* (what it took from the pool goes with the device) */
        /* Grown by half at a time and trimmed at the end: a realloc per row
         * copied the table again for every point and left the heap in shreds. */
        if (d->npoints == cap) {
            size_t ncap = cap < 16 ? 16 : cap + cap / 2;
            struct conf_point *np = realloc(d->points, ncap * sizeof *np);
            if (!np)
                goto out_oom;
            d->points = np;
            cap = ncap;
        }
        d->points[d->npoints++] = p;
    }
    if (cap > d->npoints && d->npoints) {
        struct conf_point *np = realloc(d->points, d->npoints * sizeof *np);
        if (np)
            d->points = np;
    }
    goto out_free_buf;

out_oom:
    row_free(&r);
    conf__oom(L);
out_free_buf:
    free(keys);
    free(buf);
}
