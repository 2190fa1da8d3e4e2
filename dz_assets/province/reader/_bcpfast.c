/* The FULL load's fast path: a chunk of BCP lines proven, flagged and encoded as PostgreSQL
 * binary COPY tuples in one pass, without the GIL (province/fastpath.py is its Python side).
 *
 * It only ever says "good" where the reference (types.check_value) would: a line with anything
 * unusual (a backslash, a CR other than the one before LF, a NUL, bytes that are not UTF-8, a
 * wrong field count, an empty required field, a value it does not prove) is handed back as
 * suspect, and the reference path proves those lines and names the field and reason of a
 * reject. The quality flags are those of quality.flag_rules, given as (field, kind, argument).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum check { CK_STRING = 0, CK_INT = 1, CK_DATE = 2, CK_DATETIME = 3, CK_IDCARD = 4, CK_FILE = 5, CK_DECIMAL = 6 };
/* How a proven value goes to its column: as binary COPY or, for a table whose COPY is text (a
 * numeric column), as COPY text, where every type but timestamptz is sent as delivered. */
enum enc { EN_TEXT = 0, EN_DATE = 1, EN_TIMESTAMPTZ = 2, EN_BIGINT = 3, EN_NUMERIC = 4 };
enum flag {
    FL_ID_CHECKDIGIT = 0, FL_ID_REGION = 1, FL_ID_BIRTH = 2, FL_AFTER = 3, FL_NOT_IN = 4, FL_NOT_PREFIX = 5
};

typedef struct {
    int check, required, enc;
    long length; /* characters, -1: none */
} FieldSpec;

typedef struct {
    const char *p;
    Py_ssize_t n;
} Str;

typedef struct {
    int field, kind;
    Str bound;      /* FL_AFTER: flagged when the value sorts after it; FL_ID_BIRTH: the latest day */
    Str floor;      /* FL_ID_BIRTH: the earliest day */
    Str prefix;     /* FL_NOT_PREFIX */
    Str *set;       /* FL_NOT_IN, FL_ID_REGION (sorted) */
    Py_ssize_t nset;
    long long count, sample;
} Rule;

#define MAX_FIELDS 256

static const int WEIGHTS[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
static const char CHECK_CHARS[] = "10X98765432";

static int str_cmp(const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int in_set(const Rule *r, const char *p, Py_ssize_t n) {
    Py_ssize_t lo = 0, hi = r->nset;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        int c = str_cmp(r->set[mid].p, r->set[mid].n, p, n);
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return 0;
}

static int all_digits(const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}

static int num(const char *p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (p[i] - '0');
    return v;
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* YYYYMMDD (8 digits, checked by the caller) is a real day of years 1..9999. */
static int real_day(const char *p) {
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = num(p, 4), m = num(p + 4, 2), d = num(p + 6, 2);
    if (y < 1 || m < 1 || m > 12 || d < 1) return 0;
    return d <= mdays[m - 1] + (m == 2 && leap(y));
}

/* Days from 2000-01-01 (PostgreSQL's epoch) to y-m-d, proleptic Gregorian. */
static int64_t pg_days(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 - 10957; /* 1970-01-01 is day 719468; 2000-01-01 is 10957 later */
}

/* A valid UTF-8 value (as Python's strict decoder judges it) and its length in characters;
 * -1 when it is not. */
static Py_ssize_t utf8_chars(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t chars = 0, i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; chars++; continue; }
        int len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return -1;
        if (i + len > n) return -1;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return -1;
        i += len;
        chars++;
    }
    return chars;
}

/* Whether the value [p, p+n) of a non-empty field passes its check for sure. */
static int proven(const FieldSpec *f, const char *p, Py_ssize_t n) {
    switch (f->check) {
    case CK_STRING: {
        Py_ssize_t chars = utf8_chars((const unsigned char *)p, n);
        return chars >= 0 && (f->length < 0 || chars <= f->length);
    }
    case CK_INT: {
        Py_ssize_t k = (p[0] == '-');
        return n - k >= 1 && n - k <= 18 && all_digits(p + k, n - k);
    }
    case CK_DATE:
        return n == 8 && all_digits(p, 8) && real_day(p);
    case CK_DATETIME:
        return n == 14 && all_digits(p, 14) && real_day(p) && num(p + 8, 2) < 24 && num(p + 10, 2) < 60 &&
               num(p + 12, 2) < 60;
    case CK_IDCARD:
        return n == 18 && all_digits(p, 17) && ((p[17] >= '0' && p[17] <= '9') || p[17] == 'X' || p[17] == 'x');
    case CK_DECIMAL: { /* -?[0-9]+(\.[0-9]+)? */
        Py_ssize_t i = (p[0] == '-'), start = i;
        while (i < n && p[i] >= '0' && p[i] <= '9') i++;
        if (i == start) return 0;
        if (i == n) return 1;
        if (p[i] != '.' || i + 1 == n) return 0;
        return all_digits(p + i + 1, n - i - 1);
    }
    default: /* CK_FILE: the reference looks the object up */
        return 0;
    }
}

static int flagged(const Rule *r, const char *p, Py_ssize_t n) {
    switch (r->kind) {
    case FL_ID_CHECKDIGIT: {
        int total = 0;
        for (int i = 0; i < 17; i++) total += (p[i] - '0') * WEIGHTS[i];
        char last = p[17] == 'x' ? 'X' : p[17];
        return last != CHECK_CHARS[total % 11];
    }
    case FL_ID_REGION:
        return !in_set(r, p, 2);
    case FL_ID_BIRTH:
        return !real_day(p + 6) || str_cmp(p + 6, 8, r->bound.p, r->bound.n) > 0 ||
               str_cmp(p + 6, 8, r->floor.p, r->floor.n) < 0;
    case FL_AFTER:
        return str_cmp(p, n, r->bound.p, r->bound.n) > 0;
    case FL_NOT_IN:
        return !in_set(r, p, n);
    default: /* FL_NOT_PREFIX */
        return n < r->prefix.n || memcmp(p, r->prefix.p, r->prefix.n) != 0;
    }
}

static inline char *put32(char *o, uint32_t v) {
    o[0] = (char)(v >> 24); o[1] = (char)(v >> 16); o[2] = (char)(v >> 8); o[3] = (char)v;
    return o + 4;
}

static inline char *put64(char *o, uint64_t v) {
    o = put32(o, (uint32_t)(v >> 32));
    return put32(o, (uint32_t)v);
}

static char *encode(char *o, const FieldSpec *f, const char *p, Py_ssize_t n) {
    if (n == 0) return put32(o, 0xFFFFFFFFu); /* NULL */
    switch (f->enc) {
    case EN_DATE:
        o = put32(o, 4);
        return put32(o, (uint32_t)(int32_t)pg_days(num(p, 4), num(p + 4, 2), num(p + 6, 2)));
    case EN_TIMESTAMPTZ: { /* Beijing time (UTC+8, no daylight saving) */
        int64_t s = pg_days(num(p, 4), num(p + 4, 2), num(p + 6, 2)) * 86400 + num(p + 8, 2) * 3600 +
                    num(p + 10, 2) * 60 + num(p + 12, 2) - 8 * 3600;
        o = put32(o, 8);
        return put64(o, (uint64_t)(s * 1000000));
    }
    case EN_BIGINT: {
        int neg = p[0] == '-';
        int64_t v = 0;
        for (Py_ssize_t i = neg; i < n; i++) v = v * 10 + (p[i] - '0');
        o = put32(o, 8);
        return put64(o, (uint64_t)(neg ? -v : v));
    }
    default:
        o = put32(o, (uint32_t)n);
        memcpy(o, p, n);
        return o + n;
    }
}

/* A proven value as COPY text: as delivered (it has no backslash, tab or CR), NULL as \N, and a
 * datetime as ISO 8601 basic in Beijing time, which PostgreSQL's timestamptz input takes. */
static char *encode_text(char *o, const FieldSpec *f, const char *p, Py_ssize_t n) {
    if (n == 0) {
        o[0] = '\\';
        o[1] = 'N';
        return o + 2;
    }
    if (f->enc == EN_TIMESTAMPTZ) {
        memcpy(o, p, 8);
        o[8] = 'T';
        memcpy(o + 9, p + 8, 6);
        memcpy(o + 15, "+08", 3);
        return o + 18;
    }
    memcpy(o, p, n);
    return o + n;
}

typedef struct {
    /* in */
    int text; /* COPY text instead of binary */
    const char *data;
    Py_ssize_t size;
    long long first;
    const FieldSpec *fields;
    int nfields;
    Rule *rules;
    int nrules;
    const char *file;
    Py_ssize_t file_len;
    /* out */
    char *out;
    Py_ssize_t out_len;
    long long good, total, flagged_rows;
    char *sus;         /* the suspect lines, each with its LF */
    Py_ssize_t sus_len;
    long long *sus_lines;
    Py_ssize_t nsus;
} Job;

static void run(Job *j) {
    const char *p = j->data, *end = j->data + j->size;
    char *o = j->out;
    long long line = j->first;
    Str vals[MAX_FIELDS];
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        const char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
        const char *le = (e > p && e[-1] == '\r') ? e - 1 : e; /* CRLF: the CR before LF is dropped */
        int ok = 1, k = 0;
        const char *v = p;
        for (const char *q = p;; q++) {
            if (q == le || *q == '\t') {
                if (k == j->nfields) { ok = 0; break; }
                vals[k].p = v;
                vals[k].n = q - v;
                k++;
                if (q == le) break;
                v = q + 1;
            } else if (*q == '\\' || *q == '\r' || *q == '\0') {
                ok = 0;
                break;
            }
        }
        if (ok && k != j->nfields) ok = 0;
        for (int i = 0; ok && i < k; i++) {
            const FieldSpec *f = &j->fields[i];
            if (vals[i].n == 0) ok = !f->required;
            else ok = proven(f, vals[i].p, vals[i].n);
        }
        if (!ok) {
            memcpy(j->sus + j->sus_len, p, next - p);
            j->sus_len += next - p;
            if (!nl) j->sus[j->sus_len++] = '\n';
            j->sus_lines[j->nsus++] = line;
        } else if (j->text) {
            for (int i = 0; i < k; i++) {
                o = encode_text(o, &j->fields[i], vals[i].p, vals[i].n);
                *o++ = '\t';
            }
            o += sprintf(o, "%lld\t", line);
            memcpy(o, j->file, j->file_len);
            o += j->file_len;
            *o++ = '\n';
        } else {
            o[0] = (char)((j->nfields + 2) >> 8);
            o[1] = (char)(j->nfields + 2);
            o += 2;
            for (int i = 0; i < k; i++) o = encode(o, &j->fields[i], vals[i].p, vals[i].n);
            o = put32(o, 8);
            o = put64(o, (uint64_t)line);
            o = put32(o, (uint32_t)j->file_len);
            memcpy(o, j->file, j->file_len);
            o += j->file_len;
        }
        if (ok) {
            int any = 0;
            for (int r = 0; r < j->nrules; r++) {
                Rule *rule = &j->rules[r];
                const Str *val = &vals[rule->field];
                if (val->n > 0 && flagged(rule, val->p, val->n)) {
                    if (rule->count++ == 0) rule->sample = line;
                    any = 1;
                }
            }
            j->flagged_rows += any;
            j->good++;
        }
        j->total++;
        line++;
        p = next;
    }
    j->out_len = o - j->out;
}

static int str_arg(PyObject *o, Str *s) {
    char *p;
    if (PyBytes_AsStringAndSize(o, &p, &s->n) < 0) return -1;
    s->p = p;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    const Str *x = a, *y = b;
    return str_cmp(x->p, x->n, y->p, y->n);
}

/* prove_encode(data, first_line, fields, rules, file, text) ->
 *   (copy_tuples, good, total, flag_counts, flagged_rows, suspect_lines_bytes, suspect_line_numbers)
 * fields: ((check, required, length or -1, enc), ...) in line order;
 * rules: ((field index, kind, argument), ...); kind and argument as in fastpath.py. */
static PyObject *prove_encode(PyObject *self, PyObject *args) {
    Py_buffer buf;
    long long first;
    PyObject *fields, *rules, *file;
    int text;
    if (!PyArg_ParseTuple(args, "y*LO!O!O!p", &buf, &first, &PyTuple_Type, &fields, &PyTuple_Type, &rules,
                          &PyBytes_Type, &file, &text))
        return NULL;
    PyObject *result = NULL, *out = NULL;
    Job j = {0};
    FieldSpec fs[MAX_FIELDS];
    Rule *rl = NULL;
    j.text = text;
    j.data = buf.buf;
    j.size = buf.len;
    j.first = first;
    j.nfields = (int)PyTuple_GET_SIZE(fields);
    j.nrules = (int)PyTuple_GET_SIZE(rules);
    if (j.nfields < 1 || j.nfields > MAX_FIELDS - 2 || j.nrules > 64) {
        PyErr_SetString(PyExc_ValueError, "1..254 fields and at most 64 rules");
        goto done;
    }
    for (int i = 0; i < j.nfields; i++) {
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(fields, i), "iili", &fs[i].check, &fs[i].required, &fs[i].length,
                              &fs[i].enc))
            goto done;
    }
    rl = PyMem_Calloc(j.nrules ? j.nrules : 1, sizeof(Rule));
    if (!rl) { PyErr_NoMemory(); goto done; }
    for (int r = 0; r < j.nrules; r++) {
        PyObject *arg;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(rules, r), "iiO", &rl[r].field, &rl[r].kind, &arg)) goto done;
        if (rl[r].field < 0 || rl[r].field >= j.nfields) {
            PyErr_SetString(PyExc_ValueError, "rule field out of range");
            goto done;
        }
        if (rl[r].kind == FL_AFTER && str_arg(arg, &rl[r].bound) < 0) goto done;
        if (rl[r].kind == FL_NOT_PREFIX && str_arg(arg, &rl[r].prefix) < 0) goto done;
        if (rl[r].kind == FL_ID_BIRTH) {
            PyObject *lo, *hi;
            if (!PyArg_ParseTuple(arg, "SS", &lo, &hi) || str_arg(lo, &rl[r].floor) < 0 || str_arg(hi, &rl[r].bound) < 0)
                goto done;
        }
        if (rl[r].kind == FL_NOT_IN || rl[r].kind == FL_ID_REGION) {
            if (!PyTuple_Check(arg)) { PyErr_SetString(PyExc_TypeError, "a set is a tuple of bytes"); goto done; }
            rl[r].nset = PyTuple_GET_SIZE(arg);
            rl[r].set = PyMem_Calloc(rl[r].nset ? rl[r].nset : 1, sizeof(Str));
            if (!rl[r].set) { PyErr_NoMemory(); goto done; }
            for (Py_ssize_t i = 0; i < rl[r].nset; i++)
                if (str_arg(PyTuple_GET_ITEM(arg, i), &rl[r].set[i]) < 0) goto done;
            qsort(rl[r].set, rl[r].nset, sizeof(Str), cmp_str);
        }
    }
    j.rules = rl;
    j.fields = fs;
    j.file = PyBytes_AS_STRING(file);
    j.file_len = PyBytes_GET_SIZE(file);
    /* Bound: per line a field count, per field a length word and at most max(its text, 8 bytes)
     * (a bigint of one digit takes 8), then _line and _file; as text, per field at most 4 bytes
     * more than delivered (\N, T+08) and the line number. */
    long long lines = 1;
    for (const char *q = j.data, *e = j.data + j.size; (q = memchr(q, '\n', e - q)); q++) lines++;
    Py_ssize_t bound = j.size + lines * (2 + 12LL * (j.nfields + 2) + 8 + j.file_len) +
                       (text ? lines * (4LL * j.nfields + 24) : 0);
    out = PyBytes_FromStringAndSize(NULL, bound);
    j.sus = PyMem_RawMalloc(j.size + 1);
    j.sus_lines = PyMem_RawMalloc(sizeof(long long) * lines);
    if (!out || !j.sus || !j.sus_lines) { if (out) PyErr_NoMemory(); goto done; }
    j.out = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    run(&j);
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&out, j.out_len) < 0) goto done;
    PyObject *counts = PyTuple_New(j.nrules);
    if (!counts) goto done;
    for (int r = 0; r < j.nrules; r++)
        PyTuple_SET_ITEM(counts, r, Py_BuildValue("(LL)", rl[r].count, rl[r].count ? rl[r].sample : 0LL));
    PyObject *sus_lines = PyList_New(j.nsus);
    if (!sus_lines) { Py_DECREF(counts); goto done; }
    for (Py_ssize_t i = 0; i < j.nsus; i++) PyList_SET_ITEM(sus_lines, i, PyLong_FromLongLong(j.sus_lines[i]));
    result = Py_BuildValue("(NLLNLy#N)", out, j.good, j.total, counts, j.flagged_rows, j.sus, j.sus_len, sus_lines);
    out = NULL;
done:
    Py_XDECREF(out);
    if (rl) {
        for (int r = 0; r < j.nrules; r++) PyMem_Free(rl[r].set);
        PyMem_Free(rl);
    }
    PyMem_RawFree(j.sus);
    PyMem_RawFree(j.sus_lines);
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"prove_encode", prove_encode, METH_VARARGS, "Prove, flag and encode a chunk of BCP lines (see fastpath.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bcpfast", NULL, -1, methods};

PyMODINIT_FUNC PyInit__bcpfast(void) { return PyModule_Create(&module); }
