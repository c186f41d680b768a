/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexctl: manage VexFS vector spaces, embeddings and searches
 * (man/vexctl.8).  Declarations shared by the files of tools/vexctl/.
 */
#ifndef VEXCTL_H
#define VEXCTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "vexfs/libvexfs.h"

/* Exit status (man/vexctl.8, EXIT STATUS). */
enum {
	EX_OK = 0,
	EX_FAIL = 1,		/* the operation failed */
	EX_USAGE = 2,		/* bad command line or unusable input */
	EX_NOTVEXFS = 3,	/* not on a VexFS volume, or no vector ioctls */
	EX_NOTFOUND = 4,	/* no such file, directory, space or embedding */
	EX_PERM = 5,		/* permission denied / needs privilege */
	EX_EXISTS = 6,		/* space or embedding already exists */
	EX_UNEMBEDDED = 7,	/* wait: files that could not be embedded remain */
	EX_TIMEOUT = 8,		/* wait: --timeout expired with files still waiting */
};

/* ---- main.c: messages and exit */

extern const char *g_cmd;	/* "search", "space create": for messages */
extern const char *g_help_cmd;	/* what "Try 'vexctl X --help'" names */

void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* "vexctl: CMD: <what>: <reason>" and the exit status err maps to. */
void die_err(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
int exit_code_for(int err);
const char *reason(int err);

/* ---- main.c: command line */

/* A command word and what runs it (argv[0] = the word). */
struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
};

/* The command of tab (n entries) named name, or NULL. */
const struct command *find_command(const struct command *tab, size_t n,
				   const char *name);
/*
 * The help of a command group (space, index): with no subcommand, help on
 * stderr and EX_USAGE; for --help, -h or help, help on stdout and EX_OK;
 * otherwise -1 (go on).
 */
int group_help(int argc, char **argv, const char *help);

enum opt_id {
	OPT_JSON = 1000, OPT_HELP, OPT_SPACE, OPT_DIM, OPT_METRIC, OPT_M, OPT_EFC, OPT_EF,
	OPT_MODEL, OPT_MODEL_VERSION, OPT_PATH, OPT_YES, OPT_CLEAR, OPT_CHUNK, OPT_VECTOR,
	OPT_FROM, OPT_FORMAT, OPT_REPLACE, OPT_UPDATE, OPT_EXPECT, OPT_VECTORS, OPT_K,
	OPT_EXACT, OPT_NO_STALE, OPT_DIR, OPT_FILES, OPT_BATCH, OPT_CREATE, OPT_ALL_SPACES,
	OPT_QUIET, OPT_VECFILE, OPT_OFF, OPT_EXISTING, OPT_TIMEOUT, OPT_INTERVAL,
};

#define MAX_POS 8

struct args {
	bool json, yes, clear, replace, update, vectors, exact, no_stale;
	bool create, all_spaces, quiet, off, existing;
	const char *space, *metric, *model, *model_version, *path;
	const char *vector, *from, *format, *dir, *files, *vecfile;
	uint32_t dim, m, efc, ef, k, batch, interval_ms;
	bool have_dim, have_m, have_efc, have_ef, have_k, have_batch, have_interval;
	double timeout_s;	/* --timeout; 0 = none */
	uint64_t expect;
	struct vexfs_chunk *chunks;
	uint32_t nchunks;
	int npos;
	const char *pos[MAX_POS];
};

/*
 * Parse argv (argv[0] = the command word) with the options whose names are
 * listed in allowed ("json,space,k"); --help prints help and exits 0.
 * Positionals go to a->pos; more than max_pos or fewer than min_pos is a
 * usage error.
 */
void parse_args(int argc, char **argv, const char *allowed, const char *help,
		int min_pos, int max_pos, struct args *a);
void free_args(struct args *a);
uint32_t parse_u32(const char *s, uint32_t min, uint32_t max, const char *what);
/* Seconds, decimals allowed, 0..max. */
double parse_seconds(const char *s, double max, const char *what);
bool parse_chunk(const char *s, struct vexfs_chunk *c);

/* ---- main.c: paths and volumes */

/*
 * Open path read-only and check that it is on VexFS; dies with a clear
 * message otherwise.  kind: OPEN_ANY, OPEN_DIR (must be a directory) or
 * OPEN_FILE (must not be one).
 */
enum { OPEN_ANY, OPEN_DIR, OPEN_FILE };
int open_on_vexfs(const char *path, int kind);
/* open_on_vexfs, and *vol = volume_of(path). */
int open_volume(const char *path, int kind, char **vol);

/* A file on VexFS and its parent directory (where its default space is). */
struct vexfs_file {
	int fd;		/* the file (open_on_vexfs, OPEN_FILE) */
	int dirfd;	/* its parent directory, or -1 */
	char *dir;	/* the parent's path */
};
void open_vexfs_file(const char *path, struct vexfs_file *f);
void close_vexfs_file(struct vexfs_file *f);
/* The mount point of the volume path is on (best effort); malloc'ed. */
char *volume_of(const char *path);
/* dirname(path) as a new string */
char *parent_of(const char *path);
char *join_path(const char *dir, const char *rel);

/*
 * The space a command uses: --space, else the directory's default space,
 * else the volume's only space.  Dies with a clear message if none.
 * info gets its description (with statistics if stats).
 */
void resolve_space(int volfd, int dirfd, const char *dirpath,
		   const char *given, struct vexfs_space_info *info);
/* vexfs_space_info that dies with "space 'x' does not exist on VOL". */
void get_space(int fd, const char *path, const char *name,
	       struct vexfs_space_info *info);

/* ---- out.c: JSON and tables */

struct json {
	FILE *f;
	int depth;
	bool need_comma[64];
	bool pending_key;
};

void j_begin(struct json *j, FILE *f);
void j_end(struct json *j);
void j_obj(struct json *j, const char *key);
void j_obj_end(struct json *j);
void j_arr(struct json *j, const char *key);
void j_arr_end(struct json *j);
void j_str(struct json *j, const char *key, const char *s);
void j_u64(struct json *j, const char *key, uint64_t v);
void j_dbl(struct json *j, const char *key, double v);
void j_bool(struct json *j, const char *key, bool v);
void j_null(struct json *j, const char *key);
void j_space(struct json *j, const char *key, const struct vexfs_space_info *s,
	     bool stats);
/* A document that is one object: j_begin + j_obj, and j_obj_end + j_end. */
void j_begin_object(struct json *j, FILE *f);
void j_end_object(struct json *j);
/*
 * A space's automatic-embedding counters (AUTO_STATUS) as an object, or
 * null if a->size is 0 (not known).
 */
void j_auto(struct json *j, const char *key, const struct vexfs_auto *a);
/*
 * Documents on stdout: one space; {"volume": vol, "spaces": [...]}, each
 * space with "auto" (j_auto of au[i]) if au is not NULL.
 */
void j_print_space(const struct vexfs_space_info *s, bool stats);
void j_print_spaces(const char *vol, const struct vexfs_space_info *s,
		    size_t n, bool stats, const struct vexfs_auto *au);

struct table {
	int ncols, nrows, cap;
	const char **hdr;
	const char *align;	/* 'l' or 'r' per column */
	char **cells;		/* nrows * ncols, malloc'ed strings */
};

void t_init(struct table *t, int ncols, const char **hdr, const char *align);
void t_add(struct table *t, ...);	/* ncols strings (copied) */
void t_addf(struct table *t, int col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void t_row(struct table *t);		/* start a row for t_addf */
void t_print(struct table *t, FILE *f);
void t_free(struct table *t);

char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n, size_t size);
const char *human_bytes(uint64_t v, char *buf, size_t size);
const char *time_str(uint64_t ns, char *buf, size_t size);
/* A string safe to print on a terminal (control characters escaped). */
const char *shown(const char *s, char *buf, size_t size);
/* A sidecar's last error: "strerror: message (inode N)", or "-" if none. */
const char *auto_error_str(const struct vexfs_auto *a, char *buf, size_t size);
/* "model version", or "-" without a model. */
const char *model_str(const struct vexfs_space_info *s, char *buf, size_t size);
/* CLOCK_MONOTONIC in seconds. */
double now_s(void);

/*
 * A one-line status display on standard error, redrawn in place, for
 * terminals only: on is false (and the calls do nothing) unless stderr is a
 * terminal and quiet is false.  status_line() redraws at most ten times a
 * second unless force; status_clear() erases the line.
 */
struct status_line {
	bool on;
	double last;
};
void status_init(struct status_line *sl, bool quiet);
void status_line(struct status_line *sl, bool force, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void status_clear(struct status_line *sl);

/* ---- input.c: vectors from the command line and files */

struct vecs {
	float *v;
	size_t n;	/* values */
	size_t rows;	/* 0 if unknown (raw float32 stream) */
	size_t cols;	/* 0 if unknown */
};

/*
 * Parse numbers: whitespace/comma separated, one row per line or per
 * inner [...] group.  Returns 0 or -1 with a message in err.
 */
int vecs_parse_text(const char *s, size_t len, struct vecs *out,
		    char *err, size_t errlen);
/*
 * Load vectors from a file ("-" = standard input).  format: NULL or
 * "auto" (by extension, then by content), "npy", "fvecs", "f32", "text".
 */
int vecs_load(const char *path, const char *format, struct vecs *out,
	      char *err, size_t errlen);
/* The extension of the last component of path ("npy"), "" if none. */
const char *ext_of(const char *path);
/* Fix the shape for dimension dim: rows x dim.  0 or -1 with a message. */
int vecs_shape(struct vecs *v, uint32_t dim, char *err, size_t errlen);
void vecs_free(struct vecs *v);
/*
 * The vectors of --vector or --from (with --format); false if neither was
 * given.  Bad input is a usage error.
 */
bool vecs_from_args(const struct args *a, struct vecs *v);
/*
 * Little-endian float32 values (the sidecar's output) as one row; every
 * value finite.  0 or -1 with a message in err.
 */
int vecs_from_f32le(const void *data, size_t len, struct vecs *out,
		    char *err, size_t errlen);

/* ---- text.c: text queries and passages */

/*
 * Embed a text query with the space's model by running the sidecar's
 * embedder ("$VEXCTL_VEXFSD embed", default "vexfsd" on PATH); dies with a
 * clear message and EX_FAIL if it cannot run, fails or returns a vector of
 * another dimension.  Returns info->dim floats (free()).
 */
float *embed_text(const struct vexfs_space_info *info, const char *text);
/*
 * The text of a search result's chunk, whitespace collapsed, or NULL if the
 * file cannot be read: its bytes [offset, offset + length), with HTML
 * markup removed for .html/.htm and, for .pdf, the same range of
 * pdftotext's output.  rel: the path relative to dirfd, or NULL.
 */
char *read_passage(int dirfd, const char *rel, const struct vexfs_search_result *r);
/* A passage shortened for a table: at most max characters (UTF-8), "..." if cut. */
const char *passage_short(const char *p, size_t max, char *buf, size_t size);

/* ---- commands */

int cmd_space(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_similar(int argc, char **argv);
int cmd_auto(int argc, char **argv);
int cmd_wait(int argc, char **argv);

#endif /* VEXCTL_H */
