// SPDX-License-Identifier: GPL-2.0
/*
 * vexctl text queries and passages.  A text query is embedded by the
 * sidecar's own embedder ("vexfsd embed"), so queries and files share one
 * model and one text pipeline.  A result's passage is read back from the
 * file as it is now: the chunk's bytes, with HTML markup removed, or for
 * PDF the same range of pdftotext's output, which is what the sidecar
 * chunked.  Files are told apart the way the sidecar does (docs/VEXFSD.md,
 * "Chunks").
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/wait.h>
#include "vexctl.h"

#define PASSAGE_MAX	(256U << 10)	/* bytes of one chunk read for its passage */
#define PDF_TEXT_MAX	(256U << 20)	/* pdftotext output read at most */
#define HTML_LOOKBACK	1024		/* bytes before a chunk searched for an open tag */

/* ------------------------------------------------------------ running a filter */

struct filter {
	char *out;		/* its standard output, NUL terminated; free() */
	size_t len;
	bool cut;		/* stopped reading at the cap */
	int status;		/* waitpid() status */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Read what the filter wrote; false once its output is closed or cut. */
static bool filter_read(int fd, size_t cap, size_t *room, struct filter *f)
{
	ssize_t r;

	if (f->len == *room) {
		*room = *room ? 2 * *room : 4096;
		if (*room > cap)
			*room = cap;
		f->out = xrealloc(f->out, *room + 1, 1);
	}
	r = read(fd, f->out + f->len, *room - f->len);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN;
	f->len += (size_t)r;
	if (f->len == cap)
		f->cut = true;
	return r > 0 && !f->cut;
}

/*
 * Run argv (argv[0] looked up in PATH) with in[0..inlen) on its standard
 * input, and collect at most cap bytes of its standard output; past cap it
 * is no longer read (and gets SIGPIPE if it writes on).  Its standard error
 * is ours, or /dev/null if quiet.  Input and output are served together
 * (poll), so a filter that writes before it has read everything cannot
 * deadlock us.  0, or -errno if it could not be started.
 */
static int run_filter(char *const argv[], const char *in, size_t inlen,
		      size_t cap, bool quiet, struct filter *f)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	size_t room = 0, sent = 0;
	bool reading = true;
	pid_t pid;
	int err;

	memset(f, 0, sizeof(*f));
	if (pipe2(inp, O_CLOEXEC) || pipe2(outp, O_CLOEXEC)) {
		err = -errno;
		close_fd(&inp[0]);
		close_fd(&inp[1]);
		return err;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, inp[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
						 O_WRONLY, 0);
	err = -posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close_fd(&inp[0]);
	close_fd(&outp[1]);
	if (err) {
		close_fd(&inp[1]);
		close_fd(&outp[0]);
		return err;
	}
	/* a filter that exits before reading all its input must not kill us */
	sigaction(SIGPIPE, &ign, &old);
	fcntl(inp[1], F_SETFL, O_NONBLOCK);
	if (!inlen)
		close_fd(&inp[1]);
	while (reading) {
		struct pollfd p[2] = {
			{ .fd = outp[0], .events = POLLIN },
			{ .fd = inp[1], .events = POLLOUT },
		};

		if (poll(p, inp[1] >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents) {
			ssize_t w = write(inp[1], in + sent, inlen - sent);

			if (w > 0)
				sent += (size_t)w;
			if (sent == inlen || (w < 0 && errno != EAGAIN && errno != EINTR))
				close_fd(&inp[1]);	/* all sent, or it stopped reading */
		}
		if (p[0].revents)
			reading = filter_read(outp[0], cap, &room, f);
	}
	close_fd(&inp[1]);
	close_fd(&outp[0]);
	while (waitpid(pid, &f->status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGPIPE, &old, NULL);
	if (!f->out)
		f->out = xcalloc(1, 1);
	f->out[f->len] = '\0';
	return 0;
}

static bool filter_ok(const struct filter *f)
{
	return WIFEXITED(f->status) && !WEXITSTATUS(f->status);
}

/* ------------------------------------------------------------ text queries */

float *embed_text(const struct vexfs_space_info *info, const char *text)
{
	const char *cmd = getenv("VEXCTL_VEXFSD");
	size_t want = (size_t)info->dim * sizeof(float);
	char model[VEXFS_MODEL_MAX], err[256];
	struct filter f;
	struct vecs v;
	int e;

	if (!cmd || !cmd[0])
		cmd = "vexfsd";
	snprintf(model, sizeof(model), "%.*s", VEXFS_MODEL_MAX - 1, info->model);
	if (!model[0])
		usage_error("space '%s' records no model, so text cannot be embedded for it: give the query with --vector or --from (or create the space with --model)",
			    info->name);
	{
		char *argv[] = { (char *)cmd, "embed", "--expect-model", model,
				 "--format", "f32", NULL };

		/* one byte more than a vector: enough to see a longer one */
		e = run_filter(argv, text, strlen(text), want + 1, false, &f);
	}
	if (e)
		die(EX_FAIL, "cannot run '%s': %s (install the vexfsd sidecar, or set VEXCTL_VEXFSD to its path)",
		    cmd, strerror(-e));
	/* a longer answer is a dimension mismatch even if cutting it killed it */
	if (!f.cut && !filter_ok(&f)) {
		free(f.out);
		if (WIFSIGNALED(f.status))
			die(EX_FAIL, "'%s embed' was killed by signal %d; the query was not embedded",
			    cmd, WTERMSIG(f.status));
		die(EX_FAIL, "'%s embed' failed (exit status %d); the query was not embedded",
		    cmd, WEXITSTATUS(f.status));
	}
	if (f.len != want) {
		free(f.out);
		if (!f.len)
			die(EX_FAIL, "'%s embed' exited without writing a vector", cmd);
		if (!f.cut && f.len % sizeof(float))
			die(EX_FAIL, "'%s embed' wrote %zu bytes, which are not float32 values",
			    cmd, f.len);
		die(EX_FAIL, "dimension mismatch: '%s embed' returned a vector of %s%zu values for model '%s', but space '%s' has dimension %u",
		    cmd, f.cut ? "more than " : "", f.len / sizeof(float), model,
		    info->name, info->dim);
	}
	e = vecs_from_f32le(f.out, f.len, &v, err, sizeof(err));
	free(f.out);
	if (e)
		die(EX_FAIL, "'%s embed' returned an unusable vector: %s", cmd, err);
	return v.v;
}

/* ------------------------------------------------------------ HTML */

static bool prefix_ci(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - p) >= n && !strncasecmp(p, word, n);
}

/* Past the first occurrence of word (case-insensitive) in [p, end), or end. */
static const char *past(const char *p, const char *end, const char *word)
{
	for (; p < end; p++)
		if (prefix_ci(p, end, word))
			return p + strlen(word);
	return end;
}

static size_t put_utf8(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Decode the character reference at p ('&'): the named ones HTML text
 * mostly uses and numeric ones.  Writes at most as many bytes to o as it
 * consumes; returns the bytes consumed, 0 if p is a plain '&'.
 */
static size_t entity(const char *p, const char *end, char *o, size_t *outlen)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
		{ "&apos;", '\'' }, { "&nbsp;", ' ' },	/* collapsed like a blank */
	};
	const char *q;
	uint32_t cp = 0;
	size_t i;
	int base = 10, digits = 0;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (prefix_ci(p, end, named[i].name)) {
			o[0] = named[i].c;
			*outlen = 1;
			return strlen(named[i].name);
		}
	if (end - p < 4 || p[1] != '#')
		return 0;
	q = p + 2;
	if (*q == 'x' || *q == 'X') {
		base = 16;
		q++;
	}
	for (; q < end && digits < 8; q++, digits++) {
		int d;

		if (*q >= '0' && *q <= '9')
			d = *q - '0';
		else if (base == 16 && ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'f'))
			d = (*q | 0x20) - 'a' + 10;
		else
			break;
		cp = cp * base + d;
	}
	if (!digits || q >= end || *q != ';' || !cp || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*outlen = put_utf8(cp, o);
	return (size_t)(q + 1 - p);
}

/* Elements whose content is not text. */
static const char *const raw_elements[][2] = {
	{ "<script", "</script" }, { "<style", "</style" }, { "<template", "</template" },
};

/* The closing tag of the script, style or template element a tag at p opens, or NULL. */
static const char *raw_close(const char *p, const char *end)
{
	size_t i;

	for (i = 0; i < sizeof(raw_elements) / sizeof(raw_elements[0]); i++)
		if (prefix_ci(p, end, raw_elements[i][0]))
			return raw_elements[i][1];
	return NULL;
}

/* Whether p is a closing tag of such an element. */
static bool raw_end(const char *p, const char *end)
{
	size_t i;

	for (i = 0; i < sizeof(raw_elements) / sizeof(raw_elements[0]); i++)
		if (prefix_ci(p, end, raw_elements[i][1]))
			return true;
	return false;
}

/*
 * The text of an HTML fragment: tags (each a word break), comments and the
 * content of script, style and template elements removed, character
 * references decoded.  skip: where the fragment starts, as html_context()
 * says.  Never longer than the input; *n gets the output's length.
 */
static char *html_text(const char *s, size_t *n, const char *skip)
{
	const char *p = s, *end = s + *n;
	char *out = xcalloc(*n + 1, 1), *o = out;

	if (skip)
		p = past(p, end, skip);
	if (skip && skip[0] == '<')
		p = past(p, end, ">");		/* the closing tag */
	while (p < end) {
		size_t used, len;

		if (*p == '<') {
			const char *close = raw_close(p, end);

			if (prefix_ci(p, end, "<!--"))
				p = past(p + 4, end, "-->");
			else
				p = past(p, end, ">");
			if (close)
				p = past(past(p, end, close), end, ">");
			*o++ = ' ';
			continue;
		}
		if (*p == '&' && (used = entity(p, end, o, &len))) {
			p += used;
			o += len;
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
	*n = (size_t)(o - out);
	return out;
}

/* ------------------------------------------------------------ passages */

/* [off, off + len) of the file, or less at its end; NULL on a read error. */
static char *read_range(int fd, uint64_t off, size_t len, size_t *n)
{
	char *buf = xcalloc(len + 1, 1);
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (!r)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*n = got;
	return buf;
}

/*
 * Where byte off of an HTML file is, judged from the bytes before it: in a
 * script, style or template element (the last one opened was not closed:
 * returns its closing tag), inside a tag (the nearest '<' or '>' is a '<':
 * returns ">"), or in text (NULL).  What html_text() skips first.
 */
static const char *html_context(int fd, uint64_t off)
{
	size_t back = off < HTML_LOOKBACK ? (size_t)off : HTML_LOOKBACK, n, i;
	char *b = read_range(fd, off - back, back, &n);
	const char *ctx = NULL, *raw = NULL, *c;

	for (i = 0; b && i < n; i++) {
		if (b[i] == '<' || b[i] == '>')
			ctx = b[i] == '<' ? ">" : NULL;
		if ((c = raw_close(b + i, b + n)))
			raw = c;
		else if (raw_end(b + i, b + n))
			raw = NULL;
	}
	free(b);
	return raw ? raw : ctx;
}

/* [off, off + len) of the PDF's text as pdftotext extracts it, or NULL. */
static char *pdf_range(int fd, uint64_t off, size_t len, size_t *n)
{
	char path[32];
	char *argv[] = { "pdftotext", "-enc", "UTF-8", path, "-", NULL };
	struct filter f;
	int cfd, err;

	if (off > PDF_TEXT_MAX - len)
		return NULL;
	/* pdftotext opens a name: give it the file we opened, not one a
	 * rename may have put in its place (a dup without FD_CLOEXEC) */
	cfd = fcntl(fd, F_DUPFD, 3);
	if (cfd < 0)
		return NULL;
	snprintf(path, sizeof(path), "/dev/fd/%d", cfd);
	err = run_filter(argv, NULL, 0, (size_t)off + len, true, &f);
	close(cfd);
	if (err)
		return NULL;
	if ((!f.cut && !filter_ok(&f)) || f.len <= off) {
		free(f.out);
		return NULL;
	}
	*n = f.len - (size_t)off;
	memmove(f.out, f.out + off, *n);
	f.out[*n] = '\0';
	return f.out;
}

/*
 * Blanks and control characters (NUL included) collapse to one space,
 * none at the ends; a UTF-8 sequence cut by the chunk's bounds is dropped.
 */
static void collapse(char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	char *o = s;
	bool blank = false;
	size_t k, len;

	/* a chunk may start inside a UTF-8 sequence, or at a byte order mark */
	while (p < end && (*p & 0xc0) == 0x80)
		p++;
	if (end - p >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	for (; p < end; p++) {
		if (*p <= 0x20 || *p == 0x7f) {
			blank = o > s;
			continue;
		}
		if (blank)
			*o++ = ' ';
		blank = false;
		*o++ = (char)*p;
	}
	/* the last sequence: its lead byte says how long it must be */
	len = (size_t)(o - s);
	for (k = 1; k <= 4 && k <= len; k++) {
		unsigned char c = (unsigned char)s[len - k];

		if ((c & 0xc0) == 0x80)
			continue;
		if ((c < 0x80 ? 1U : c >= 0xf0 ? 4U : c >= 0xe0 ? 3U : 2U) > k)
			len -= k;
		break;
	}
	s[len] = '\0';
}

/* Open a result's file the way libvexfs does, from its relative path. */
static int open_result(int dirfd, const char *rel,
		       const struct vexfs_search_result *r)
{
	struct vexfs_search_result one = *r;
	size_t len = rel ? strlen(rel) : 0;

	/* vexfs_open_result() takes the path from a paths buffer: rel is one */
	one.path_offset = 0;
	one.path_length = (uint32_t)len;
	return vexfs_open_result(dirfd, &one, rel, rel ? len + 1 : 0,
				 O_RDONLY | O_NONBLOCK);
}

enum text_kind { KIND_TEXT, KIND_HTML, KIND_PDF };

/*
 * How the sidecar reads a file: PDF by its magic, HTML by its name or its
 * first tag, anything else as text (Markdown included).
 */
static enum text_kind text_kind(int fd, const char *rel)
{
	const char *ext = rel ? ext_of(rel) : "", *p, *end;
	char head[64];
	ssize_t n;

	n = pread(fd, head, sizeof(head), 0);
	if (n < 0)
		n = 0;
	p = head;
	end = head + n;
	if (prefix_ci(p, end, "%PDF-"))
		return KIND_PDF;
	if (!strcasecmp(ext, "html") || !strcasecmp(ext, "htm") || !strcasecmp(ext, "xhtml"))
		return KIND_HTML;
	if (prefix_ci(p, end, "\xef\xbb\xbf"))
		p += 3;
	while (p < end && *p && strchr(" \t\r\n\f", *p))
		p++;
	if (prefix_ci(p, end, "<!doctype html") || prefix_ci(p, end, "<html"))
		return KIND_HTML;
	return KIND_TEXT;
}

char *read_passage(int dirfd, const char *rel, const struct vexfs_search_result *r)
{
	size_t len = PASSAGE_MAX, n = 0;
	enum text_kind kind;
	char *text;
	int fd;

	fd = open_result(dirfd, rel, r);
	if (fd < 0)
		return NULL;
	/* 0 + 0 is the whole file: its beginning */
	if (r->length && r->length < len)
		len = (size_t)r->length;
	kind = text_kind(fd, rel);
	if (kind == KIND_PDF) {
		text = pdf_range(fd, r->offset, len, &n);
	} else {
		text = read_range(fd, r->offset, len, &n);
		if (text && kind == KIND_HTML) {
			char *t = html_text(text, &n, html_context(fd, r->offset));

			free(text);
			text = t;
		}
	}
	close(fd);
	if (text)
		collapse(text, n);
	return text;
}

const char *passage_short(const char *p, size_t max, char *buf, size_t size)
{
	size_t chars = 0, i, cut = 0;

	for (i = 0; p[i]; i++)
		if (((unsigned char)p[i] & 0xc0) != 0x80 && ++chars == max - 2)
			cut = i;	/* where "..." would start */
	if (chars <= max || max < 4) {
		snprintf(buf, size, "%s", p);
		return buf;
	}
	while (cut && p[cut - 1] == ' ')
		cut--;
	snprintf(buf, size, "%.*s...", (int)cut, p);
	return buf;
}
