/*
 * conf_ini: agent.conf as sections of `key = value` entries, each with its line.
 * Syntax only: what the keys mean is conf_schema's business. Every bad line is
 * reported and skipped, so one run shows them all.
 */
#include "agent/conf_impl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static char *skip_ws(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
}

/* Nothing, or only a comment, may follow a header or a quoted value. */
static bool rest_is_empty(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return !*s || *s == '#' || *s == ';';
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    return true;
}

/* Letters, digits and '_'; dots join the parts of a dotted key such as
 * override.field.value (a profile variant setting). */
static bool valid_key(const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && !(*s == '.' && s[1] && s[1] != '.'))
            return false;
    return true;
}

/* The value after '=': quoted (";" and "#" literal, \" and \\ escapes) or bare
 * (a ';' or '#' after a blank starts a comment: "a;b" is one value). */
static const char *parse_value(char *v, char **out)
{
    v = skip_ws(v);
    if (*v == '"') {
        char *r = v + 1, *w = v + 1;
        for (;;) {
            if (!*r)
                return "unterminated quoted value (expected a closing '\"')";
            if (*r == '"')
                break;
            if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
                r++;
            *w++ = *r++;
        }
        *w = 0;
        if (!rest_is_empty(r + 1))
            return "text after the closing quote (expected a comment or nothing)";
        *out = v + 1;
        return NULL;
    }
    char *r = v;
    for (; *r; r++)
        if ((*r == '#' || *r == ';') && (r == v || r[-1] == ' ' || r[-1] == '\t'))
            break;
    *r = 0;
    rtrim(v);
    *out = v;
    return NULL;
}

static const char *const kinds[] = { "agent", "device", "uplink" };

/* A "[kind name]" header. Returns the new section's index, or -1 after reporting. */
static int header(struct conf_loader *L, const char *file, int line, char *s, struct ini *ini)
{
    char *close = strchr(s, ']');
    if (!close) {
        conf__err(L, file, line, "section header without ']' (expected [agent], [device NAME] or [uplink NAME])");
        return -1;
    }
    if (!rest_is_empty(close + 1)) {
        conf__err(L, file, line, "text after the section header (expected a comment or nothing)");
        return -1;
    }
    *close = 0;
    char *kind = skip_ws(s + 1);
    rtrim(kind);
    char *name = kind;
    while (*name && *name != ' ' && *name != '\t')
        name++;
    if (*name)
        *name++ = 0;
    name = skip_ws(name);

    int k = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(kind, kinds[i]) == 0)
            k = i;
    if (k < 0) {
        const char *best = NULL;
        for (int i = 0; i < 3; i++)
            if (conf__distance(kind, kinds[i]) <= 2)
                best = kinds[i];
        if (best)
            conf__err(L, file, line, "unknown section kind '%s' (did you mean '%s'?)", kind, best);
        else
            conf__err(L, file, line, "unknown section kind '%s' (expected [agent], [device NAME] or "
                      "[uplink NAME])", kind);
        return -1;
    }
    if (k == CONF_SEC_AGENT && *name) {
        conf__err(L, file, line, "[agent] takes no name (got '%s')", name);
        return -1;
    }
    if (k != CONF_SEC_AGENT && !*name) {
        conf__err(L, file, line, "[%s] needs a name (expected [%s NAME])", kind, kind);
        return -1;
    }
    if (k != CONF_SEC_AGENT && !valid_name(name)) {
        conf__err(L, file, line, "bad %s name '%s' (expected letters, digits, '_', '.' or '-')", kind, name);
        return -1;
    }
    for (size_t i = 0; i < ini->n; i++) {
        const struct ini_section *o = &ini->s[i];
        if ((int)o->kind != k || (o->name && strcmp(o->name, name) != 0))
            continue;
        if (o->name)
            conf__err(L, file, line, "duplicate section [%s %s] (first at line %d)", kind, name, o->line);
        else
            conf__err(L, file, line, "duplicate section [agent] (first at line %d)", o->line);
        return -1;
    }

    struct ini_section *ns = realloc(ini->s, (ini->n + 1) * sizeof *ns);
    if (!ns) {
        conf__oom(L);
        return -1;
    }
    ini->s = ns;
    ns[ini->n] = (struct ini_section){ .kind = (enum conf_sec)k, .line = line };
    if (k != CONF_SEC_AGENT && !(ns[ini->n].name = conf__strdup(L, name)))
        return -1;
    return (int)ini->n++;
}

static void entry(struct conf_loader *L, const char *file, int line, char *s,
                  struct ini_section *sec, bool skipping)
{
    char *eq = strchr(s, '=');
    if (!eq) {
        conf__err(L, file, line, "'%.40s' is not 'key = value' (nor a [section] header)", s);
        return;
    }
    *eq = 0;
    rtrim(s);
    if (!valid_key(s)) {
        if (*s)
            conf__err(L, file, line, "bad key '%.40s' (expected letters, digits, '_' and '.')", s);
        else
            conf__err(L, file, line, "missing key before '=' (expected 'key = value')");
        return;
    }
    char *value;
    const char *why = parse_value(eq + 1, &value);
    if (why) {
        conf__err(L, file, line, "%s: %s", s, why);
        return;
    }
    if (!sec) {
        if (!skipping)
            conf__err(L, file, line, "key '%s' outside a section (expected [agent] first)", s);
        return;
    }
    for (size_t i = 0; i < sec->n; i++)
        if (strcmp(sec->e[i].key, s) == 0) {
            conf__err(L, file, line, "duplicate key '%s' (first at line %d)", s, sec->e[i].line);
            return;
        }
    struct ini_entry *ne = realloc(sec->e, (sec->n + 1) * sizeof *ne);
    if (!ne) {
        conf__oom(L);
        return;
    }
    sec->e = ne;
    struct ini_entry *e = &ne[sec->n];
    e->key = conf__strdup(L, s);
    e->value = conf__strdup(L, value);
    e->line = line;
    if (!e->key || !e->value) {
        free(e->key);
        free(e->value);
        return;
    }
    sec->n++;
}

int conf__ini_parse(struct conf_loader *L, const char *file, struct ini *ini)
{
    char *buf, why[96];
    size_t len;
    if (conf__read(file, &buf, &len, why, sizeof why) < 0) {
        conf__err(L, file, 0, "cannot read (%s)", why);
        return -1;
    }
    conf__utf8_check(L, file, buf, len);

    char *p = buf + conf__bom(buf, len), *end = buf + len;
    int line = 0, cur = -1;
    bool skipping = false;     /* inside a section whose header was bad */
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        *eol = 0;
        if (eol > p && eol[-1] == '\r')
            eol[-1] = 0;
        line++;
        char *s = skip_ws(p);
        p = eol + 1;
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            cur = header(L, file, line, s, ini);
            skipping = cur < 0;
            continue;
        }
        entry(L, file, line, s, cur >= 0 ? &ini->s[cur] : NULL, skipping);
    }
    free(buf);
    return 0;
}

void conf__ini_free(struct ini *ini)
{
    for (size_t i = 0; i < ini->n; i++) {
        struct ini_section *s = &ini->s[i];
        for (size_t j = 0; j < s->n; j++) {
            free(s->e[j].key);
            free(s->e[j].value);
        }
        free(s->e);
        free(s->name);
    }
    free(ini->s);
    ini->s = NULL;
    ini->n = 0;
}

const struct ini_entry *conf__ini_get(const struct ini_section *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].key, key) == 0)
            return &s->e[i];
    return NULL;
}
