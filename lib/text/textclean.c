/* CLIP's text cleaning, reproduced: ftfy.fix_text (HTML entities when the text has no '<', C1
 * controls as windows-1252, Latin ligatures, half/full width forms, curly quotes, line breaks,
 * terminal escapes, control characters, NFC; repeated until nothing changes), html.unescape
 * twice, strip, whitespace runs to one space, Python's str.lower(), then the regular expression
 *   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * ftfy's mojibake repair (fix_encoding) is heuristic and is not reproduced. */
#include "text/textclean.h"

#include "core/grow.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void ct_u32_free(ct_u32buf *b) {
    free(b->cp);
    memset(b, 0, sizeof *b);
}

static bool push(ct_u32buf *b, uint32_t c) {
    uint32_t *p = ct_grow(b->cp, &b->cap, b->n + 1, sizeof *p);
    if (!p) return false;
    b->cp = p;
    b->cp[b->n++] = c;
    return true;
}

static bool push_utf8(ct_u32buf *b, const char *s) {
    ct_u32buf t = {0};
    if (!ct_utf8_decode(s, strlen(s), &t)) return false;
    bool ok = true;
    for (size_t i = 0; i < t.n && ok; i++) ok = push(b, t.cp[i]);
    ct_u32_free(&t);
    return ok;
}

/* Decodes like Python's bytes.decode("utf-8", errors="replace"): each maximal ill-formed
 * subpart (a lead byte and the continuation bytes that were still valid) becomes one U+FFFD. */
bool ct_utf8_decode(const char *s, size_t len, ct_u32buf *out) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = 0xFFFD;
        size_t bad = 0, k = ct_utf8_next(u + i, len - i, &cp, &bad);
        if (!push(out, k ? cp : 0xFFFD)) return false;
        i += k ? k : bad;
    }
    return true;
}

/* ------------------------------------------------------------- entity lookup */

static const char *entity_find(const ct_entity *tab, int n, const uint32_t *name, size_t len) {
    char key[40];
    if (len >= sizeof key) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (name[i] >= 0x80) return NULL; /* every entity name is ASCII */
        key[i] = (char)name[i];
    }
    key[len] = 0;
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2, c = strcmp(tab[mid].name, key);
        if (!c) return tab[mid].value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_hex(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_alnum_ascii(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Python's html._replace_charref for a numeric reference. Appends to out. */
static bool numeric_charref(ct_u32buf *out, const uint32_t *d, size_t nd, int hex) {
    uint64_t num = 0;
    bool big = false;
    for (size_t i = 0; i < nd; i++) {
        uint32_t c = d[i], v = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
        num = num * (hex ? 16 : 10) + v;
        if (num > 0x10FFFF) big = true, num = 0x110000;
    }
    if (!big)
        for (int i = 0; i < ct_n_invalid_charrefs; i++)
            if (ct_invalid_charrefs[i].from == num) return push(out, ct_invalid_charrefs[i].to);
    if (big || (num >= 0xD800 && num <= 0xDFFF)) return push(out, 0xFFFD);
    for (int i = 0; i < ct_n_invalid_codepoints; i++)
        if (ct_invalid_codepoints[i] == num) return true; /* decodes to nothing */
    return push(out, (uint32_t)num);
}

/* html.unescape (Python 3): &#123; &#x1F; (';' optional) and HTML5 named references, with the
 * longest-prefix rule for names without ';'. */
static bool html_unescape(const ct_u32buf *in, ct_u32buf *out) {
    const uint32_t *s = in->cp;
    size_t n = in->n, i = 0;
    while (i < n) {
        if (s[i] != '&') { if (!push(out, s[i++])) return false; continue; }
        size_t j = i + 1;
        if (j < n && s[j] == '#') {
            size_t k = j + 1;
            int hex = 0;
            if (k < n && is_digit(s[k])) {
                while (k < n && is_digit(s[k])) k++;
            } else if (k + 1 < n && (s[k] == 'x' || s[k] == 'X') && is_hex(s[k + 1])) {
                hex = 1;
                k++;
                while (k < n && is_hex(s[k])) k++;
            } else { if (!push(out, s[i++])) return false; continue; }
            size_t d0 = j + 1 + (size_t)hex;
            if (!numeric_charref(out, s + d0, k - d0, hex)) return false;
            if (k < n && s[k] == ';') k++;
            i = k;
            continue;
        }
        size_t k = j;
        while (k < n && k - j < 32 && s[k] != '\t' && s[k] != '\n' && s[k] != '\f' && s[k] != ' ' && s[k] != '<' && s[k] != '&' && s[k] != '#' && s[k] != ';') k++;
        if (k == j) { if (!push(out, s[i++])) return false; continue; }
        if (k < n && s[k] == ';') k++;
        size_t len = k - j;
        const char *v = entity_find(ct_html5_entities, ct_n_html5_entities, s + j, len);
        size_t used = len;
        for (size_t x = len - 1; !v && x >= 2; x--) {
            v = entity_find(ct_html5_entities, ct_n_html5_entities, s + j, x);
            if (v) used = x;
        }
        if (!v) { /* unchanged: '&' + the name */
            for (size_t q = i; q < k; q++) if (!push(out, s[q])) return false;
        } else {
            if (!push_utf8(out, v)) return false;
            for (size_t q = j + used; q < k; q++) if (!push(out, s[q])) return false;
        }
        i = k;
    }
    return true;
}

/* ftfy.fixes.unescape_html: only "&name;" / "&#...;" of at most 24 ASCII alphanumerics. */
static bool ftfy_unescape(const ct_u32buf *in, ct_u32buf *out) {
    const uint32_t *s = in->cp;
    size_t n = in->n, i = 0;
    while (i < n) {
        if (s[i] == '&') {
            size_t j = i + 1;
            int num = j < n && s[j] == '#';
            if (num) j++;
            size_t k = j;
            while (k < n && k - j < 25 && is_alnum_ascii(s[k])) k++;
            if (k > j && k - j <= 24 && k < n && s[k] == ';') {
                const char *v = num ? NULL : entity_find(ct_ftfy_entities, ct_n_ftfy_entities, s + i + 1, k - i);
                if (v) {
                    if (!push_utf8(out, v)) return false;
                    i = k + 1;
                    continue;
                }
                if (num) {
                    ct_u32buf one = {0}, dec = {0};
                    bool ok = true;
                    for (size_t q = i; q <= k && ok; q++) ok = push(&one, s[q]);
                    ok = ok && html_unescape(&one, &dec);
                    bool semi = false;
                    for (size_t q = 0; q < dec.n; q++) semi |= dec.cp[q] == ';';
                    if (ok && !semi) {
                        for (size_t q = 0; q < dec.n && ok; q++) ok = push(out, dec.cp[q]);
                        ct_u32_free(&one); ct_u32_free(&dec);
                        if (!ok) return false;
                        i = k + 1;
                        continue;
                    }
                    ct_u32_free(&one); ct_u32_free(&dec);
                    if (!ok) return false;
                }
            }
        }
        if (!push(out, s[i++])) return false;
    }
    return true;
}

/* ------------------------------------------------------------- ftfy fixers */

static const struct { uint32_t from; const char *to; } k_ligatures[] = {
    {0x0132, "IJ"}, {0x0133, "ij"}, {0x0149, "\xCA\xBCn"}, {0x01F1, "DZ"}, {0x01F2, "Dz"}, {0x01F3, "dz"},
    {0x01C4, "D\xC5\xBD"}, {0x01C5, "D\xC5\xBE"}, {0x01C6, "d\xC5\xBE"}, {0x01C7, "LJ"}, {0x01C8, "Lj"},
    {0x01C9, "lj"}, {0x01CA, "NJ"}, {0x01CB, "Nj"}, {0x01CC, "nj"}, {0xFB00, "ff"}, {0xFB01, "fi"},
    {0xFB02, "fl"}, {0xFB03, "ffi"}, {0xFB04, "ffl"}, {0xFB05, "\xC5\xBFt"}, {0xFB06, "st"},
};

static bool is_control(uint32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* one pass of the character-level fixers, in ftfy's order */
static bool ftfy_chars(const ct_u32buf *in, ct_u32buf *out) {
    ct_u32buf a = {0}, b = {0};
    bool ok = true;
    /* fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes */
    for (size_t i = 0; i < in->n && ok; i++) {
        uint32_t c = in->cp[i];
        if (c >= 0x80 && c <= 0x9F) c = ct_c1_cp1252[c - 0x80];
        const char *rep = NULL;
        for (size_t k = 0; k < sizeof k_ligatures / sizeof k_ligatures[0]; k++)
            if (k_ligatures[k].from == c) rep = k_ligatures[k].to;
        if (rep) { ok = push_utf8(&a, rep); continue; }
        if (c == 0x3000) c = ' ';
        else if (c >= 0xFF01 && c < 0xFFF0 && ct_width_map[c - 0xFF01][0]) { ok = push_utf8(&a, ct_width_map[c - 0xFF01]); continue; }
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        ok = push(&a, c);
    }
    /* fix_line_breaks */
    for (size_t i = 0; i < a.n && ok; i++) {
        uint32_t c = a.cp[i];
        if (c == '\r' && i + 1 < a.n && a.cp[i + 1] == '\n') continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        ok = push(&b, c);
    }
    /* remove_terminal_escapes: ESC [ (digits|;)* letter; then remove_control_chars */
    for (size_t i = 0; i < b.n && ok; i++) {
        uint32_t c = b.cp[i];
        if (c == 0x1B && i + 1 < b.n && b.cp[i + 1] == '[') {
            size_t k = i + 2;
            while (k < b.n && (is_digit(b.cp[k]) || b.cp[k] == ';')) k++;
            if (k < b.n && ((b.cp[k] | 0x20) >= 'a' && (b.cp[k] | 0x20) <= 'z')) { i = k; continue; }
        }
        if (is_control(c)) continue;
        ok = push(out, c);
    }
    ct_u32_free(&a);
    ct_u32_free(&b);
    return ok;
}

static bool nfc(const ct_u32buf *in, ct_u32buf *out) {
    size_t bytes;
    if (!ct_mul_ok(in->n, 4, &bytes) || !ct_add_ok(bytes, 1, &bytes)) return false;
    char *u = malloc(bytes);
    if (!u) return false;
    size_t o = 0;
    for (size_t i = 0; i < in->n; i++) o += ct_utf8_put(in->cp[i], u + o);
    u[o] = 0;
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)u, (utf8proc_ssize_t)o, &r, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(u);
    if (rl < 0) return false;
    bool ok = ct_utf8_decode((const char *)r, (size_t)rl, out);
    free(r);
    return ok;
}

static bool same(const ct_u32buf *a, const ct_u32buf *b) {
    return a->n == b->n && (a->n == 0 || !memcmp(a->cp, b->cp, a->n * sizeof(uint32_t)));
}

/* ftfy.fix_and_explain on one segment, iterated to a fixed point */
static bool fix_segment(ct_u32buf *seg, bool unescape) {
    for (int iter = 0; iter < 16; iter++) {
        ct_u32buf t1 = {0}, t2 = {0}, t3 = {0};
        bool ok = unescape ? ftfy_unescape(seg, &t1) : true;
        if (ok && !unescape) for (size_t i = 0; i < seg->n && ok; i++) ok = push(&t1, seg->cp[i]);
        ok = ok && ftfy_chars(&t1, &t2) && nfc(&t2, &t3);
        ct_u32_free(&t1);
        ct_u32_free(&t2);
        if (!ok) { ct_u32_free(&t3); return false; }
        bool done = same(&t3, seg);
        ct_u32_free(seg);
        *seg = t3;
        if (done) break;
    }
    return true;
}

/* Python str.isspace() */
static bool py_isspace(uint32_t c) {
    if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
        (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000)
        return true;
    return false;
}

static bool is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c || utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

static bool is_case_ignorable(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
        return true;
    return c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x387 || c == 0x5F4 || c == 0x2018 || c == 0x2019 ||
           c == 0x2024 || c == 0x2027 || c == 0xFE13 || c == 0xFE52 || c == 0xFE55 || c == 0xFF07 || c == 0xFF0E || c == 0xFF1A;
}

/* Python's str.lower(): full mapping for U+0130 and the final-sigma rule. */
static bool py_lower(const ct_u32buf *in, ct_u32buf *out) {
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->cp[i];
        if (c == 0x130) {
            if (!push(out, 'i') || !push(out, 0x307)) return false;
            continue;
        }
        if (c == 0x3A3) {
            size_t j = i;
            while (j > 0 && is_case_ignorable(in->cp[j - 1])) j--;
            bool fin = j > 0 && is_cased(in->cp[j - 1]);
            if (fin) {
                size_t k = i + 1;
                while (k < in->n && is_case_ignorable(in->cp[k])) k++;
                fin = k == in->n || !is_cased(in->cp[k]);
            }
            if (!push(out, fin ? 0x3C2 : 0x3C3)) return false;
            continue;
        }
        if (!push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c))) return false;
    }
    return true;
}

bool ct_clean_text(const char *s, size_t len, ct_u32buf *out) {
    ct_u32buf in = {0}, fixed = {0}, u1 = {0}, u2 = {0}, low = {0};
    bool ok = ct_utf8_decode(s, len, &in);
    /* ftfy.fix_text: line by line; HTML unescaping stops for good at the first line with '<' */
    bool unescape = true;
    for (size_t p = 0; ok && p < in.n;) {
        size_t e = p;
        while (e < in.n && in.cp[e] != '\n') e++;
        if (e < in.n) e++;
        ct_u32buf seg = {0};
        for (size_t i = p; i < e && ok; i++) {
            ok = push(&seg, in.cp[i]);
            if (in.cp[i] == '<') unescape = false;
        }
        ok = ok && fix_segment(&seg, unescape);
        for (size_t i = 0; ok && i < seg.n; i++) ok = push(&fixed, seg.cp[i]);
        ct_u32_free(&seg);
        p = e;
    }
    ok = ok && html_unescape(&fixed, &u1) && html_unescape(&u1, &u2);
    /* strip, collapse whitespace runs to one space, strip again */
    ct_u32buf ws = {0};
    size_t a = 0, b = u2.n;
    while (ok && a < b && py_isspace(u2.cp[a])) a++;
    while (ok && b > a && py_isspace(u2.cp[b - 1])) b--;
    for (size_t i = a; ok && i < b;) {
        if (py_isspace(u2.cp[i])) {
            while (i < b && py_isspace(u2.cp[i])) i++;
            ok = push(&ws, ' ');
        } else ok = push(&ws, u2.cp[i++]);
    }
    ok = ok && py_lower(&ws, &low);
    ct_u32_free(&in); ct_u32_free(&fixed); ct_u32_free(&u1); ct_u32_free(&u2); ct_u32_free(&ws);
    if (!ok) { ct_u32_free(&low); return false; }
    *out = low;
    return true;
}

/* ------------------------------------------------------------- pre-tokeniser */

static bool is_letter(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static bool is_number(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}
/* the regex module's \s: the Unicode White_Space property */
static bool is_ws(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* case-insensitive match of an ASCII literal (the pattern is compiled with IGNORECASE) */
static bool lit(const uint32_t *cp, size_t n, size_t pos, const char *s) {
    for (size_t i = 0; s[i]; i++) {
        if (pos + i >= n) return false;
        uint32_t c = cp[pos + i], w = (uint32_t)(unsigned char)s[i];
        if (c == w) continue;
        if (w >= 'a' && w <= 'z' && c == w - 32) continue;
        if (w == 's' && c == 0x17F) continue;  /* long s folds to s */
        if (w == 'k' && c == 0x212A) continue; /* Kelvin sign folds to k */
        return false;
    }
    return true;
}

bool ct_pretok_next(const uint32_t *cp, size_t n, size_t *pos, size_t *tb, size_t *te, int *special) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t i = *pos;
    while (i < n) {
        *special = 0;
        if (lit(cp, n, i, "<|startoftext|>")) { *tb = i; *te = i + 15; *special = 1; *pos = *te; return true; }
        if (lit(cp, n, i, "<|endoftext|>")) { *tb = i; *te = i + 13; *special = 2; *pos = *te; return true; }
        for (size_t k = 0; k < sizeof contractions / sizeof contractions[0]; k++)
            if (lit(cp, n, i, contractions[k])) {
                *tb = i; *te = i + strlen(contractions[k]); *pos = *te;
                return true;
            }
        if (is_letter(cp[i])) {
            size_t e = i;
            while (e < n && is_letter(cp[e])) e++;
            *tb = i; *te = e; *pos = e;
            return true;
        }
        if (is_number(cp[i])) { *tb = i; *te = i + 1; *pos = i + 1; return true; }
        if (!is_ws(cp[i])) {
            size_t e = i;
            while (e < n && !is_ws(cp[e]) && !is_letter(cp[e]) && !is_number(cp[e])) e++;
            *tb = i; *te = e; *pos = e;
            return true;
        }
        i++; /* whitespace separates tokens and is dropped */
    }
    *pos = n;
    return false;
}
