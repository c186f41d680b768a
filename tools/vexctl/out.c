// SPDX-License-Identifier: GPL-2.0
/*
 * vexctl output: a small streaming JSON writer (always valid JSON: strings
 * are escaped, invalid UTF-8 becomes U+FFFD, non-finite numbers null) and
 * aligned text tables.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "vexctl.h"

/* ------------------------------------------------------------ memory */

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die(EX_FAIL, "out of memory");
	return p;
}

void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die(EX_FAIL, "out of memory");
	p = realloc(p, n && size ? n * size : 1);
	if (!p)
		die(EX_FAIL, "out of memory");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		die(EX_FAIL, "out of memory");
	return s;
}

const char *human_bytes(uint64_t v, char *buf, size_t size)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, size, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, size, "%.1f %s", d, units[u]);
	return buf;
}

const char *time_str(uint64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / 1000000000ULL);
	struct tm tm;

	if (!ns || !gmtime_r(&t, &tm) ||
	    !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "-");
	return buf;
}

const char *shown(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	for (; *s && o + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

const char *model_str(const struct vexfs_space_info *s, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", s->model[0] ? s->model : "-",
		 s->model_version[0] ? " " : "", s->model_version);
	return buf;
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ status line */

void status_init(struct status_line *sl, bool quiet)
{
	sl->on = !quiet && isatty(STDERR_FILENO);
	sl->last = 0;
}

void status_line(struct status_line *sl, bool force, const char *fmt, ...)
{
	va_list ap;

	if (!sl->on || (!force && now_s() - sl->last < 0.1))
		return;
	sl->last = now_s();
	fputc('\r', stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\033[K", stderr);	/* erase what a longer line left */
	fflush(stderr);
}

void status_clear(struct status_line *sl)
{
	if (sl->on)
		fputs("\r\033[K", stderr);
}

/* ------------------------------------------------------------ JSON */

static void j_indent(struct json *j)
{
	int i;

	fputc('\n', j->f);
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Length of a valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void j_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		int n;

		switch (*s) {
		case '"': fputs("\\\"", f); s++; continue;
		case '\\': fputs("\\\\", f); s++; continue;
		case '\n': fputs("\\n", f); s++; continue;
		case '\t': fputs("\\t", f); s++; continue;
		case '\r': fputs("\\r", f); s++; continue;
		}
		if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s);
			s++;
			continue;
		}
		n = utf8_len(s);
		if (!n) {
			fputs("\\ufffd", f);
			s++;
			continue;
		}
		fwrite(s, 1, (size_t)n, f);
		s += n;
	}
	fputc('"', f);
}

static void j_key(struct json *j, const char *key)
{
	if (j->depth && j->need_comma[j->depth])
		fputc(',', j->f);
	if (j->depth)
		j_indent(j);
	j->need_comma[j->depth] = true;
	if (key) {
		j_string(j->f, key);
		fputs(": ", j->f);
	}
}

void j_begin(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

void j_end(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

static void j_open(struct json *j, const char *key, char c)
{
	j_key(j, key);
	fputc(c, j->f);
	if (j->depth < 63)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void j_close(struct json *j, char c)
{
	bool any = j->need_comma[j->depth];

	j->depth--;
	if (any)
		j_indent(j);
	fputc(c, j->f);
}

void j_obj(struct json *j, const char *key) { j_open(j, key, '{'); }
void j_obj_end(struct json *j) { j_close(j, '}'); }
void j_arr(struct json *j, const char *key) { j_open(j, key, '['); }
void j_arr_end(struct json *j) { j_close(j, ']'); }

void j_str(struct json *j, const char *key, const char *s)
{
	if (!s) {
		j_null(j, key);
		return;
	}
	j_key(j, key);
	j_string(j->f, s);
}

void j_u64(struct json *j, const char *key, uint64_t v)
{
	j_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void j_dbl(struct json *j, const char *key, double v)
{
	j_key(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.9g", v);
	else
		fputs("null", j->f);
}

void j_bool(struct json *j, const char *key, bool v)
{
	j_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void j_null(struct json *j, const char *key)
{
	j_key(j, key);
	fputs("null", j->f);
}

static void j_space_fields(struct json *j, const struct vexfs_space_info *s,
			   bool stats)
{
	char tbuf[64];

	j_str(j, "name", s->name);
	j_u64(j, "id", s->space_id);
	j_u64(j, "dim", s->dim);
	j_str(j, "elem_type", s->elem_type == VEXFS_ELEM_F32 ? "float32" : "?");
	j_str(j, "metric", vexfs_metric_name(s->metric));
	j_str(j, "model", s->model);
	j_str(j, "model_version", s->model_version);
	j_u64(j, "hnsw_m", s->hnsw_m);
	j_u64(j, "hnsw_ef_construction", s->hnsw_ef_construction);
	j_u64(j, "hnsw_ef_search", s->hnsw_ef_search);
	j_u64(j, "vector_count", s->vector_count);
	if (stats) {
		j_u64(j, "indexed_count", s->indexed_count);
		j_u64(j, "pending_count", s->pending_count);
		j_u64(j, "index_bytes", s->index_bytes);
		j_u64(j, "max_level", s->max_level);
		j_bool(j, "loaded", s->loaded);
	}
	j_u64(j, "bytes_per_vector", s->bytes_per_vector);
	j_str(j, "created", time_str(s->create_time_ns, tbuf, sizeof(tbuf)));
	j_u64(j, "create_time_ns", s->create_time_ns);
}

void j_space(struct json *j, const char *key, const struct vexfs_space_info *s,
	     bool stats)
{
	j_obj(j, key);
	j_space_fields(j, s, stats);
	j_obj_end(j);
}

const char *auto_error_str(const struct vexfs_auto *a, char *buf, size_t size)
{
	char msg[VEXFS_AUTO_ERROR_MAX], sh[4 * VEXFS_AUTO_ERROR_MAX + 8];

	if (!a->last_errno)
		return "-";
	/* NUL terminated by the ABI; do not trust it further than the field */
	snprintf(msg, sizeof(msg), "%.*s", (int)sizeof(a->last_error) - 1, a->last_error);
	shown(msg, sh, sizeof(sh));
	snprintf(buf, size, "%s%s%s (inode %llu)",
		 strerror(a->last_errno < 0 ? -a->last_errno : a->last_errno),
		 sh[0] ? ": " : "", sh, (unsigned long long)a->last_error_ino);
	return buf;
}

void j_auto(struct json *j, const char *key, const struct vexfs_auto *a)
{
	char msg[VEXFS_AUTO_ERROR_MAX];

	if (!a->size) {
		j_null(j, key);
		return;
	}
	j_obj(j, key);
	j_u64(j, "embedded", a->embedded);
	j_u64(j, "stale", a->stale);
	j_u64(j, "in_flight", a->in_flight);
	j_u64(j, "failed", a->failed);
	j_u64(j, "sidecars", a->sidecars);
	if (a->last_errno) {
		snprintf(msg, sizeof(msg), "%.*s", (int)sizeof(a->last_error) - 1,
			 a->last_error);
		j_obj(j, "last_error");
		j_u64(j, "errno", (uint64_t)(a->last_errno < 0 ? -a->last_errno : a->last_errno));
		j_str(j, "error", strerror(a->last_errno < 0 ? -a->last_errno : a->last_errno));
		j_str(j, "message", msg);
		j_u64(j, "ino", a->last_error_ino);
		j_obj_end(j);
	} else {
		j_null(j, "last_error");
	}
	j_obj_end(j);
}

void j_begin_object(struct json *j, FILE *f)
{
	j_begin(j, f);
	j_obj(j, NULL);
}

void j_end_object(struct json *j)
{
	j_obj_end(j);
	j_end(j);
}

void j_print_space(const struct vexfs_space_info *s, bool stats)
{
	struct json j;

	j_begin(&j, stdout);
	j_space(&j, NULL, s, stats);
	j_end(&j);
}

void j_print_spaces(const char *vol, const struct vexfs_space_info *s,
		    size_t n, bool stats, const struct vexfs_auto *au)
{
	struct json j;
	size_t i;

	j_begin_object(&j, stdout);
	j_str(&j, "volume", vol);
	j_arr(&j, "spaces");
	for (i = 0; i < n; i++) {
		j_obj(&j, NULL);
		j_space_fields(&j, &s[i], stats);
		if (au)
			j_auto(&j, "auto", &au[i]);
		j_obj_end(&j);
	}
	j_arr_end(&j);
	j_end_object(&j);
}

/* ------------------------------------------------------------ tables */

void t_init(struct table *t, int ncols, const char **hdr, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->hdr = hdr;
	t->align = align;
}

void t_row(struct table *t)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->cells = xrealloc(t->cells, (size_t)t->cap * t->ncols,
				    sizeof(*t->cells));
	}
	memset(t->cells + (size_t)t->nrows * t->ncols, 0,
	       (size_t)t->ncols * sizeof(*t->cells));
	t->nrows++;
}

void t_addf(struct table *t, int col, const char *fmt, ...)
{
	char **cell = &t->cells[(size_t)(t->nrows - 1) * t->ncols + col];
	va_list ap;
	int r;

	free(*cell);
	va_start(ap, fmt);
	r = vasprintf(cell, fmt, ap);
	va_end(ap);
	if (r < 0)
		die(EX_FAIL, "out of memory");
}

void t_add(struct table *t, ...)
{
	va_list ap;
	int i;

	t_row(t);
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++)
		t_addf(t, i, "%s", va_arg(ap, const char *));
	va_end(ap);
}

/* Display width: UTF-8 code points (good enough for paths and names). */
static int width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void t_print(struct table *t, FILE *f)
{
	int *w = xcalloc((size_t)t->ncols, sizeof(int));
	int r, c;

	for (c = 0; c < t->ncols; c++)
		w[c] = width(t->hdr[c]);
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[(size_t)r * t->ncols + c];
			int cw = s ? width(s) : 0;

			if (cw > w[c])
				w[c] = cw;
		}
	for (r = -1; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = r < 0 ? t->hdr[c] :
				t->cells[(size_t)r * t->ncols + c];
			int pad;

			if (!s)
				s = "";
			pad = w[c] - width(s);
			if (c == t->ncols - 1 && t->align[c] != 'r') {
				fputs(s, f);	/* no trailing blanks */
				break;
			}
			if (t->align[c] == 'r')
				fprintf(f, "%*s%s", pad, "", s);
			else
				fprintf(f, "%s%*s", s, pad, "");
			if (c < t->ncols - 1)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
	free(w);
}

void t_free(struct table *t)
{
	size_t i;

	for (i = 0; i < (size_t)t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}
