// SPDX-License-Identifier: GPL-2.0
/*
 * Vector input for vexctl: numbers on the command line or in text files,
 * NumPy .npy (float32/float64, either byte order, 0-, 1- or 2-D, C or
 * Fortran order), .fvecs (int32 dimension + float32 values per row) and raw
 * float32 in the CPU's byte order.  Every value must be finite (VexFS
 * rejects NaN and infinities).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "vexctl.h"

#define INPUT_MAX	(4ULL << 30)	/* refuse inputs above 4 GiB */

void vecs_free(struct vecs *v)
{
	free(v->v);
	memset(v, 0, sizeof(*v));
}

static void push(struct vecs *v, size_t *cap, float f)
{
	if (v->n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		v->v = xrealloc(v->v, *cap, sizeof(float));
	}
	v->v[v->n++] = f;
}

int vecs_parse_text(const char *s, size_t len, struct vecs *out,
		    char *err, size_t errlen)
{
	const char *p = s, *end = s + len;
	size_t cap = 0, row_start = 0, line = 1;
	int depth = 0;
	char numbuf[128];

	memset(out, 0, sizeof(*out));
#define END_ROW() do {							\
		size_t nrow = out->n - row_start;			\
		if (nrow) {						\
			if (out->rows && nrow != out->cols) {		\
				snprintf(err, errlen, "row %zu has %zu values, the first row has %zu", \
					 out->rows + 1, nrow, out->cols); \
				goto bad;				\
			}						\
			out->cols = nrow;				\
			out->rows++;					\
			row_start = out->n;				\
		}							\
	} while (0)

	while (p < end) {
		char c = *p;

		if (c == '#') {		/* comment to the end of the line */
			while (p < end && *p != '\n')
				p++;
			continue;
		}
		if (c == '\n') {
			if (depth == 0)
				END_ROW();
			line++;
			p++;
			continue;
		}
		if (isspace((unsigned char)c) || c == ',' || c == ';') {
			p++;
			continue;
		}
		if (c == '[' || c == '(') {
			depth++;
			p++;
			continue;
		}
		if (c == ']' || c == ')') {
			if (!depth) {
				snprintf(err, errlen, "line %zu: unbalanced '%c'", line, c);
				goto bad;
			}
			depth--;
			END_ROW();
			p++;
			continue;
		}
		{
			size_t n = 0;
			char *e;
			double d;

			while (p + n < end && n < sizeof(numbuf) - 1 &&
			       !isspace((unsigned char)p[n]) && p[n] != ',' &&
			       p[n] != ';' && p[n] != ']' && p[n] != ')' &&
			       p[n] != '[' && p[n] != '#')
				n++;
			memcpy(numbuf, p, n);
			numbuf[n] = '\0';
			errno = 0;
			d = strtod(numbuf, &e);
			if (e == numbuf || *e) {
				char shown_buf[64];

				snprintf(err, errlen, "line %zu: '%s' is not a number", line,
					 shown(numbuf, shown_buf, sizeof(shown_buf)));
				goto bad;
			}
			if (!isfinite(d) || fabs(d) > 3.4028234663852886e38) {
				snprintf(err, errlen, "line %zu: '%s' is not a finite float32 value",
					 line, numbuf);
				goto bad;
			}
			push(out, &cap, (float)d);
			p += n;
		}
	}
	if (depth) {
		snprintf(err, errlen, "unbalanced '['");
		goto bad;
	}
	END_ROW();
#undef END_ROW
	if (!out->n) {
		snprintf(err, errlen, "no numbers found");
		goto bad;
	}
	return 0;
bad:
	vecs_free(out);
	return -1;
}

static int read_all(const char *path, char **data, size_t *len,
		    char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0, r;
	char *buf;

	*data = NULL;
	*len = 0;
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	buf = xcalloc(cap + 1, 1);
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= INPUT_MAX) {
				snprintf(err, errlen, "%s is larger than 4 GiB", path);
				free(buf);
				if (f != stdin)
					fclose(f);
				return -EFBIG;
			}
			cap *= 2;
			buf = xrealloc(buf, cap + 1, 1);
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		free(buf);
		if (f != stdin)
			fclose(f);
		return -EIO;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

static bool host_le(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one == 1;
}

static int check_finite(struct vecs *v, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (!isfinite(v->v[i])) {
			snprintf(err, errlen, "value %zu is not finite (NaN or infinity)", i);
			return -1;
		}
	return 0;
}

/* Find the value text of 'key' in a .npy header dict. */
static const char *npy_field(const char *hdr, const char *key)
{
	const char *p = strstr(hdr, key);

	if (!p)
		return NULL;
	p += strlen(key);
	while (*p == ' ' || *p == '\'' || *p == '"')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

static int parse_npy(const unsigned char *d, size_t len, struct vecs *out,
		     char *err, size_t errlen)
{
	size_t hlen, off, shape[3] = { 0 }, nd = 0, count = 1, esize, i;
	const char *descr, *fo, *sh;
	bool fortran, swap, f64;
	char *hdr;
	int major = d[6];

	if (len < 10) {
		snprintf(err, errlen, "truncated .npy header");
		return -1;
	}
	if (major == 1) {
		hlen = d[8] | (d[9] << 8);
		off = 10;
	} else if (major == 2 || major == 3) {
		if (len < 12) {
			snprintf(err, errlen, "truncated .npy header");
			return -1;
		}
		hlen = le32(d + 8);
		off = 12;
	} else {
		snprintf(err, errlen, ".npy format version %d is not supported", major);
		return -1;
	}
	if (hlen > len - off) {
		snprintf(err, errlen, "truncated .npy header");
		return -1;
	}
	hdr = xcalloc(hlen + 1, 1);
	memcpy(hdr, d + off, hlen);
	off += hlen;

	descr = npy_field(hdr, "descr");
	fo = npy_field(hdr, "fortran_order");
	sh = npy_field(hdr, "shape");
	if (!descr || !fo || !sh || *sh != '(') {
		snprintf(err, errlen, "malformed .npy header");
		goto bad;
	}
	descr++;	/* skip the quote */
	if (!strncmp(descr, "<f4", 3) || !strncmp(descr, "=f4", 3) ||
	    !strncmp(descr, "|f4", 3)) {
		f64 = false;
		swap = !host_le();
	} else if (!strncmp(descr, ">f4", 3)) {
		f64 = false;
		swap = host_le();
	} else if (!strncmp(descr, "<f8", 3) || !strncmp(descr, "=f8", 3)) {
		f64 = true;
		swap = !host_le();
	} else if (!strncmp(descr, ">f8", 3)) {
		f64 = true;
		swap = host_le();
	} else {
		char dt[16];

		snprintf(dt, sizeof(dt), "%.*s", (int)strcspn(descr, "'\""), descr);
		snprintf(err, errlen, ".npy dtype '%s' is not supported (float32 or float64 only)", dt);
		goto bad;
	}
	fortran = !strncmp(fo, "True", 4);
	for (sh++; *sh && *sh != ')';) {
		char *e;
		unsigned long long v;

		while (*sh == ' ' || *sh == ',')
			sh++;
		if (*sh == ')')
			break;
		errno = 0;
		v = strtoull(sh, &e, 10);
		if (e == sh || errno || nd == 3) {
			snprintf(err, errlen, ".npy shape must have at most 2 dimensions");
			goto bad;
		}
		shape[nd++] = v;
		if (v && count > SIZE_MAX / v) {
			snprintf(err, errlen, ".npy shape too large");
			goto bad;
		}
		count *= v;
		sh = e;
	}
	if (nd > 2) {
		snprintf(err, errlen, ".npy arrays must be 1-D or 2-D (rows = chunks), this one is %zu-D", nd);
		goto bad;
	}
	esize = f64 ? 8 : 4;
	if (count > (len - off) / esize) {
		snprintf(err, errlen, ".npy data is truncated (%zu values expected)", count);
		goto bad;
	}
	if (!count) {
		snprintf(err, errlen, ".npy array is empty");
		goto bad;
	}
	out->v = xcalloc(count, sizeof(float));
	out->n = count;
	for (i = 0; i < count; i++) {
		unsigned char b[8];
		size_t k;

		memcpy(b, d + off + i * esize, esize);
		if (swap)
			for (k = 0; k < esize / 2; k++) {
				unsigned char t = b[k];

				b[k] = b[esize - 1 - k];
				b[esize - 1 - k] = t;
			}
		if (f64) {
			double x;

			memcpy(&x, b, 8);
			if (!isfinite(x) || fabs(x) > 3.4028234663852886e38) {
				snprintf(err, errlen, ".npy value %zu is not a finite float32 value", i);
				goto bad_free;
			}
			out->v[i] = (float)x;
		} else {
			memcpy(&out->v[i], b, 4);
		}
	}
	if (nd == 2) {
		out->rows = shape[0];
		out->cols = shape[1];
		if (fortran && out->rows > 1 && out->cols > 1) {
			float *t = xcalloc(count, sizeof(float));
			size_t r, c;

			for (r = 0; r < out->rows; r++)
				for (c = 0; c < out->cols; c++)
					t[r * out->cols + c] = out->v[c * out->rows + r];
			free(out->v);
			out->v = t;
		}
	} else {
		out->rows = 1;
		out->cols = count;
	}
	free(hdr);
	return check_finite(out, err, errlen);
bad_free:
	vecs_free(out);
bad:
	free(hdr);
	return -1;
}

/* fvecs: every row is int32 d, then d float32 (little endian). */
static bool is_fvecs(const unsigned char *d, size_t len)
{
	uint32_t dim;
	size_t rec, off;

	if (len < 8)
		return false;
	dim = le32(d);
	if (!dim || dim > VEXFS_DIM_MAX)
		return false;
	rec = 4 + 4 * (size_t)dim;
	if (len % rec)
		return false;
	for (off = 0; off < len; off += rec)
		if (le32(d + off) != dim)
			return false;
	return true;
}

static int parse_fvecs(const unsigned char *d, size_t len, struct vecs *out,
		       char *err, size_t errlen)
{
	size_t r, rows, dim;

	if (!is_fvecs(d, len)) {
		snprintf(err, errlen, "not a valid .fvecs file (int32 dimension, then that many float32, per row)");
		return -1;
	}
	dim = le32(d);
	rows = len / (4 + 4 * dim);
	out->v = xcalloc(rows * dim, sizeof(float));
	for (r = 0; r < rows; r++) {
		const unsigned char *p = d + r * (4 + 4 * dim) + 4;
		size_t c;

		for (c = 0; c < dim; c++) {
			uint32_t bits = le32(p + 4 * c);

			memcpy(&out->v[r * dim + c], &bits, 4);
		}
	}
	out->n = rows * dim;
	out->rows = rows;
	out->cols = dim;
	return check_finite(out, err, errlen);
}

static int parse_raw(const unsigned char *d, size_t len, struct vecs *out,
		     char *err, size_t errlen)
{
	if (!len || len % 4) {
		snprintf(err, errlen, "raw float32 input must be a non-empty multiple of 4 bytes (got %zu)", len);
		return -1;
	}
	out->n = len / 4;
	out->v = xcalloc(out->n, sizeof(float));
	memcpy(out->v, d, len);
	out->rows = out->cols = 0;	/* shaped by the space's dimension */
	return check_finite(out, err, errlen);
}

static bool looks_text(const unsigned char *d, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = d[i];

		if (c == '#') {		/* a comment: anything to the end of the line */
			while (i < len && d[i] != '\n')
				i++;
			continue;
		}
		if (!(isdigit(c) || isspace(c) || strchr("+-.,;[]()#eEnNaAiIfFtTyY", c)))
			return false;
	}
	return len > 0;
}

const char *ext_of(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');

	if (!dot || (slash && dot < slash))
		return "";
	return dot + 1;
}

int vecs_load(const char *path, const char *format, struct vecs *out,
	      char *err, size_t errlen)
{
	const unsigned char *d;
	char *data;
	size_t len;
	const char *fmt = format;
	int r;

	memset(out, 0, sizeof(*out));
	if (fmt && strcmp(fmt, "auto") && strcmp(fmt, "npy") &&
	    strcmp(fmt, "fvecs") && strcmp(fmt, "f32") && strcmp(fmt, "text"))
		usage_error("--format must be auto, npy, fvecs, f32 or text (got '%s')", fmt);
	r = read_all(path, &data, &len, err, errlen);
	if (r)
		return -1;
	d = (const unsigned char *)data;
	if (!fmt || !strcmp(fmt, "auto")) {
		const char *e = ext_of(path);

		if (len >= 6 && !memcmp(d, "\x93NUMPY", 6))
			fmt = "npy";
		else if (!strcasecmp(e, "npy"))
			fmt = "npy";
		else if (!strcasecmp(e, "fvecs"))
			fmt = "fvecs";
		else if (!strcasecmp(e, "f32") || !strcasecmp(e, "bin") ||
			 !strcasecmp(e, "raw"))
			fmt = "f32";
		else if (!strcasecmp(e, "txt") || !strcasecmp(e, "csv") ||
			 !strcasecmp(e, "tsv") || !strcasecmp(e, "json"))
			fmt = "text";
		else if (looks_text(d, len))
			fmt = "text";
		else if (is_fvecs(d, len))
			fmt = "fvecs";
		else
			fmt = "f32";
	}
	if (!strcmp(fmt, "npy")) {
		if (len < 6 || memcmp(d, "\x93NUMPY", 6)) {
			snprintf(err, errlen, "not a .npy file (no \\x93NUMPY magic)");
			r = -1;
		} else {
			r = parse_npy(d, len, out, err, errlen);
		}
	} else if (!strcmp(fmt, "fvecs")) {
		r = parse_fvecs(d, len, out, err, errlen);
	} else if (!strcmp(fmt, "f32")) {
		r = parse_raw(d, len, out, err, errlen);
	} else {
		r = vecs_parse_text(data, len, out, err, errlen);
	}
	free(data);
	if (r)
		vecs_free(out);
	return r;
}

int vecs_shape(struct vecs *v, uint32_t dim, char *err, size_t errlen)
{
	if (!v->rows || v->cols == 1) {
		/* a flat stream (raw float32, or one value per line) */
		if (v->n % dim) {
			snprintf(err, errlen, "%zu values are not a whole number of vectors of dimension %u",
				 v->n, dim);
			return -1;
		}
		v->rows = v->n / dim;
		v->cols = dim;
		return 0;
	}
	if (v->cols != dim) {
		snprintf(err, errlen, "vectors have %zu values, the space has dimension %u",
			 v->cols, dim);
		return -1;
	}
	return 0;
}

bool vecs_from_args(const struct args *a, struct vecs *v)
{
	char err[256];

	if (a->vector) {
		if (vecs_parse_text(a->vector, strlen(a->vector), v, err, sizeof(err)))
			usage_error("--vector: %s", err);
	} else if (a->from) {
		if (vecs_load(a->from, a->format, v, err, sizeof(err)))
			usage_error("%s: %s", a->from, err);
	} else {
		return false;
	}
	return true;
}

int vecs_from_f32le(const void *data, size_t len, struct vecs *out,
		    char *err, size_t errlen)
{
	const unsigned char *d = data;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!len || len % 4) {
		snprintf(err, errlen, "%zu bytes are not float32 values", len);
		return -1;
	}
	out->n = len / 4;
	out->v = xcalloc(out->n, sizeof(float));
	for (i = 0; i < out->n; i++) {
		uint32_t bits = le32(d + 4 * i);

		memcpy(&out->v[i], &bits, 4);
	}
	out->rows = 1;
	out->cols = out->n;
	if (check_finite(out, err, errlen)) {
		vecs_free(out);
		return -1;
	}
	return 0;
}
