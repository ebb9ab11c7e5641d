/* roofline.c - timing the roof kernels on the pool, and the results file.
 *
 * Built without ISA flags: it only takes the addresses of the per-ISA
 * kernels (the files in roofline/) and calls the ones roof_unusable()
 * clears. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "file.h"
#include "env.h"
#include "kernels.h"
#include "pool.h"
#include "roofline.h"
#include "roofline/peak.h"
#include "text.h"

#define PAGE 4096
#define PAGE_WORDS (PAGE / sizeof(uint64_t))
#define MIN_PEAK_NS 20e6	/* one timed peak run: long enough to be steady */
#define PEAK_A 3		/* the peak kernels' u8 input */
#define PEAK_B (-7)		/* and s8 input: |2ab| fits int16 */

const struct roof_peak roof_peaks[ROOF_NISA] = {
	[ROOF_AVX2] = { "avx2", NEEDS_AVX2, roof_peak_avx2,
			ROOF_MACS_AVX2 },
	[ROOF_AVXVNNI] = { "avxvnni", NEEDS_AVXVNNI, roof_peak_avxvnni,
			   ROOF_MACS_AVXVNNI },
	[ROOF_AVX512VNNI] = { "avx512vnni", NEEDS_AVX512VNNI,
			      roof_peak_avx512vnni, ROOF_MACS_AVX512VNNI },
};

const struct roof_read roof_reads[] = {
	{ "avx2", NEEDS_AVX2, roof_read_avx2 },	/* Haswell+, Zen 1+ */
	{ "sse2", 0, roof_read_sse2 },			/* every x86-64 */
	{ 0 }
};

const char *roof_isa_name(enum roof_isa i)
{
	return (unsigned)i < ROOF_NISA ? roof_peaks[i].name : "?";
}

/* Worded as the registry words it ("CPU lacks avxvnni", "... hidden by
 * Q8TUNE_CPU_MASK=avx2"), so ./tune --list and the roofline agree. */
const char *roof_unusable(uint32_t needs)
{
	const struct variant v = { .name = "roofline", .needs = needs };

	return variant_unusable(&v);
}

int roofline_machine_key(char *buf, size_t cap, char *err, size_t errlen)
{
	struct machine_fp fp;

	if (machine_fp_get(&fp, err, errlen))
		return -1;
	machine_fp_key(&fp, buf, cap);
	return 0;
}

size_t roofline_default_buffer(void)
{
	const size_t floor = (size_t)1 << 30;
	struct machine_fp fp;
	char err[160];
	size_t llc;

	if (machine_fp_get(&fp, err, sizeof err))
		return floor;
	llc = fp.l3 ? fp.l3 * (size_t)(fp.l3_count > 0 ? fp.l3_count : 1)
		    : fp.l2 * (size_t)(fp.cores > 0 ? fp.cores : 1);
	return 8 * llc > floor ? 8 * llc : floor;
}


static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Best (max) and median of the n rates in v (sorted in place) into slot
 * t of s. */
static void summarize(struct roof_series *s, int t, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	s->best[t] = v[n - 1];
	s->median[t] = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --- bandwidth ---------------------------------------------------------- */

struct bw_job {
	uint64_t *buf;		/* (words): word j holds j */
	size_t words;		/* a whole number of pages */
	roof_read_fn read;	/* NULL: first touch, writing the pattern */
	uint64_t sum[ROOF_MAX_THREADS];	/* per thread */
};

/* Thread ith's contiguous slice of the buffer, in whole pages. */
static void bw_thread(void *ctx, int ith, int nth)
{
	struct bw_job *j = ctx;
	size_t pages = j->words / PAGE_WORDS;
	size_t lo = pages * ith / nth * PAGE_WORDS;
	size_t hi = pages * (ith + 1) / nth * PAGE_WORDS;

	if (!j->read) {
		for (size_t w = lo; w < hi; w++)
			j->buf[w] = w;
		return;
	}
	j->sum[ith] = j->read(j->buf + lo, (hi - lo) * sizeof *j->buf);
}

/* Bandwidth at the pool's thread count t into slot t of r->bw: maps the
 * buffer, lets each thread first-touch its slice, one untimed read, then
 * reps timed ones (rates in v).  Every read's sum is checked against the
 * pattern's: sum of j for j < words, mod 2^64. */
static int measure_bw(struct roofline *r, struct pool *p, roof_read_fn read,
		      int reps, double *v, char *err, size_t errlen)
{
	int t = pool_threads(p);
	struct bw_job j = { .words = r->buffer_bytes / sizeof(uint64_t) };
	uint64_t want = j.words % 2 ? j.words * ((j.words - 1) / 2)
				    : j.words / 2 * (j.words - 1);
	int ret = -1;

	j.buf = mmap(NULL, r->buffer_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (j.buf == MAP_FAILED) {
		snprintf(err, errlen, "roofline: cannot map %zu bytes for the "
			 "bandwidth buffer: %s", r->buffer_bytes, strerror(errno));
		return -1;
	}
	madvise(j.buf, r->buffer_bytes, MADV_HUGEPAGE);	/* fewer TLB misses */
	pool_run(p, bw_thread, &j);
	j.read = read;
	for (int rep = -1; rep < reps; rep++) {
		double t0 = (double)now_ns(), ns;
		uint64_t got = 0;

		pool_run(p, bw_thread, &j);
		ns = (double)now_ns() - t0;
		for (int i = 0; i < t; i++)
			got += j.sum[i];
		if (got != want) {
			snprintf(err, errlen, "roofline: read kernel summed "
				 "%#llx over the buffer, expected %#llx (%d threads)",
				 (unsigned long long)got,
				 (unsigned long long)want, t);
			goto unmap;
		}
		if (rep >= 0)
			v[rep] = r->buffer_bytes / ns;	/* bytes/ns = GB/s */
	}
	summarize(&r->bw, t, v, reps);
	ret = 0;

unmap:
	munmap(j.buf, r->buffer_bytes);
	return ret;
}

/* --- int8 peak ---------------------------------------------------------- */

struct peak_job {
	roof_peak_fn fn;
	long iters;
	uint32_t out[ROOF_MAX_THREADS];	/* per thread */
};

static void peak_thread(void *ctx, int ith, int nth)
{
	struct peak_job *j = ctx;

	(void)nth;
	j->out[ith] = j->fn(PEAK_A, PEAK_B, j->iters);
}

/* One run of j on every thread of p: its wall time in ns, or -1 (with
 * err) when a thread's sum is not (uint32_t)(iters * macs * a * b). */
static double peak_run(struct pool *p, struct peak_job *j,
		       const struct roof_peak *k, char *err, size_t errlen)
{
	uint64_t ab = (uint64_t)(int64_t)(PEAK_A * PEAK_B);
	uint32_t want = (uint32_t)((uint64_t)j->iters * (uint64_t)k->macs * ab);
	double t0 = (double)now_ns(), ns;

	pool_run(p, peak_thread, j);
	ns = (double)now_ns() - t0;
	for (int i = 0; i < pool_threads(p); i++) {
		if (j->out[i] != want) {
			snprintf(err, errlen, "roofline: %s peak kernel returned "
				 "%#x on thread %d, expected %#x (%ld iterations)",
				 k->name, j->out[i], i, want, j->iters);
			return -1;
		}
	}
	return ns;
}

/* Peak of ISA isa at the pool's thread count t into slot t of
 * r->peak[isa]: iterations doubled (then scaled) until one run takes
 * MIN_PEAK_NS, which also warms the clocks up, then reps timed runs. */
static int measure_peak(struct roofline *r, struct pool *p, enum roof_isa isa,
			int reps, double *v, char *err, size_t errlen)
{
	const struct roof_peak *k = &roof_peaks[isa];
	struct peak_job j = { .fn = k->fn, .iters = 1024 };
	int t = pool_threads(p);
	double ns;

	while ((ns = peak_run(p, &j, k, err, errlen)) < MIN_PEAK_NS) {
		if (ns < 0)
			return -1;
		j.iters = ns > MIN_PEAK_NS / 16
			? (long)(j.iters * 1.1 * MIN_PEAK_NS / ns) : j.iters * 2;
	}
	for (int rep = 0; rep < reps; rep++) {
		if ((ns = peak_run(p, &j, k, err, errlen)) < 0)
			return -1;
		v[rep] = (double)t * j.iters * k->macs / ns;	/* MAC/ns */
	}
	summarize(&r->peak[isa], t, v, reps);
	return 0;
}

/* --- measure ------------------------------------------------------------ */

/* Every roof at t threads, into slot t of r's series, on a pool of
 * exactly t threads (created and destroyed here). */
static int measure_threads(struct roofline *r, int t, roof_read_fn read,
			   int reps, double *v, char *err, size_t errlen)
{
	struct pool *p = pool_create(t);
	int ret = -1;

	if (!p) {
		snprintf(err, errlen, "roofline: cannot start %d threads", t);
		return -1;
	}
	if (measure_bw(r, p, read, reps, v, err, errlen))
		goto destroy_pool;
	for (int i = 0; i < ROOF_NISA; i++)
		if (r->isa_ok[i] && measure_peak(r, p, (enum roof_isa)i, reps,
						 v, err, errlen))
			goto destroy_pool;
	ret = 0;

destroy_pool:
	pool_destroy(p);
	return ret;
}

/* The CPUID brand without the padding some vendors put around it. */
static void copy_brand(char *dst, size_t cap)
{
	const char *b = cpu_get()->brand;
	size_t n;

	while (*b == ' ')
		b++;
	snprintf(dst, cap, "%s", *b ? b : cpu_get()->vendor);
	for (n = strlen(dst); n && dst[n - 1] == ' '; n--)
		dst[n - 1] = '\0';
}

int roofline_measure(struct roofline *r, int max_threads, size_t buffer_bytes,
		     int reps, char *err, size_t errlen)
{
	const struct roof_read *rd = roof_reads;
	double *v;
	int ret = -1;

	if (max_threads < 1 || max_threads > ROOF_MAX_THREADS || reps < 1) {
		snprintf(err, errlen, "roofline: threads must be 1..%d and reps "
			 ">= 1 (got %d, %d)", ROOF_MAX_THREADS, max_threads, reps);
		return -1;
	}
	if (buffer_bytes / PAGE < (size_t)max_threads) {
		snprintf(err, errlen, "roofline: a %zu-byte buffer is less than "
			 "a page per thread", buffer_bytes);
		return -1;
	}
	memset(r, 0, sizeof *r);
	r->max_threads = max_threads;
	r->buffer_bytes = buffer_bytes / PAGE * PAGE;
	utc_iso8601(r->measured_at, sizeof r->measured_at);
	copy_brand(r->cpu, sizeof r->cpu);
	for (int i = 0; i < ROOF_NISA; i++) {
		const char *why = roof_unusable(roof_peaks[i].needs);

		r->isa_ok[i] = !why;
		snprintf(r->isa_why[i], sizeof r->isa_why[i], "%s", why ? why : "");
	}
	while (roof_unusable(rd->needs))	/* the last one needs nothing */
		rd++;
	v = malloc((size_t)reps * sizeof *v);
	if (!v) {
		snprintf(err, errlen, "roofline: out of memory");
		return -1;
	}
	for (int t = 1; t <= max_threads; t++)
		if (measure_threads(r, t, rd->fn, reps, v, err, errlen))
			goto free_v;
	ret = 0;

free_v:
	free(v);
	return ret;
}

double roofline_int8_peak(const struct roofline *r, int threads,
			  enum roof_isa *which)
{
	enum roof_isa best = ROOF_NISA;
	double g = 0;

	if (threads >= 1 && threads <= r->max_threads) {
		for (int i = 0; i < ROOF_NISA; i++) {
			if (r->isa_ok[i] && r->peak[i].best[threads] > g) {
				g = r->peak[i].best[threads];
				best = (enum roof_isa)i;
			}
		}
	}
	if (which)
		*which = best;
	return g;
}

double roofline_floor_ms(const struct roofline *r, int threads, double bytes,
			 double macs)
{
	const double t_mem = bytes / (r->bw.best[threads] * 1e9);
	const double t_mac = macs > 0 ?
		macs / (roofline_int8_peak(r, threads, NULL) * 1e9) : 0;

	return 1e3 * (t_mem > t_mac ? t_mem : t_mac);
}

/* --- the results file --------------------------------------------------- */

/* {"best": [...], "median": [...]} over threads 1..n; NULL if a value is
 * not finite (JSON has no NaN) or on allocation failure. */
static json_t *series_json(const struct roof_series *s, int n)
{
	json_t *o = json_object(), *b = json_array(), *m = json_array();

	json_object_set_new(o, "best", b);
	json_object_set_new(o, "median", m);
	for (int t = 1; t <= n; t++) {
		if (json_array_append_new(b, json_real(s->best[t])) ||
		    json_array_append_new(m, json_real(s->median[t]))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *entry_json(const struct roofline *r)
{
	json_t *e = json_object(), *th = json_array(), *g = json_object();
	json_t *bw = series_json(&r->bw, r->max_threads);
	int bad = !bw;

	json_object_set_new(e, "measured_at", json_string(r->measured_at));
	json_object_set_new(e, "cpu", json_string(r->cpu));
	for (int t = 1; t <= r->max_threads; t++)
		json_array_append_new(th, json_integer(t));
	json_object_set_new(e, "threads", th);
	json_object_set_new(e, "bandwidth_gbs", bw);
	json_object_set_new(e, "buffer_bytes",
			    json_integer((json_int_t)r->buffer_bytes));
	for (int i = 0; i < ROOF_NISA; i++) {
		json_t *s;

		if (r->isa_ok[i]) {
			s = series_json(&r->peak[i], r->max_threads);
			bad |= !s;
		} else {
			s = json_pack("{s:b, s:s}", "available", 0, "why",
				      r->isa_why[i]);
		}
		json_object_set_new(g, roof_isa_name((enum roof_isa)i), s);
	}
	json_object_set_new(e, "int8_gmacs", g);
	if (bad || !json_string_value(json_object_get(e, "cpu"))) {
		json_decref(e);
		return NULL;
	}
	return e;
}

/* Reads the file at path into *root.  1 read (a schema-1 object with a
 * "machines" object; caller owns *root), 0 no file, -1 error naming it. */
static int read_file(const char *path, json_t **root, char *err, size_t errlen)
{
	json_error_t je;
	json_t *s, *m;
	FILE *f = file_fopen_read(path, err, errlen);

	*root = NULL;
	if (!f)
		return errno == ENOENT ? 0 : -1;
	*root = json_loadf(f, 0, &je);
	fclose(f);
	if (!*root) {
		snprintf(err, errlen, "%s: line %d: %s", path, je.line,
			 text_oneline(je.text));
		return -1;
	}
	s = json_object_get(*root, "schema");
	m = json_object_get(*root, "machines");
	if (!json_is_object(*root) || !json_is_integer(s) ||
	    json_integer_value(s) != ROOF_SCHEMA || !json_is_object(m)) {
		snprintf(err, errlen, "%s: not a roofline file (wants an object "
			 "with \"schema\": %d and a \"machines\" object)", path,
			 ROOF_SCHEMA);
		json_decref(*root);
		*root = NULL;
		return -1;
	}
	return 1;
}

/* Writes root to path atomically (model/atomic.h), creating its folder
 * if missing.  0 or -1 with err; on failure path is untouched. */
static int write_atomic(const char *path, const json_t *root, char *err,
			size_t errlen)
{
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	int rc;

	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	/* json_dumps' NUL becomes the final newline */
	const size_t n = strlen(text);
	text[n] = '\n';
	rc = file_write_atomic(path, text, n + 1, 1, err, errlen);
	free(text);
	return rc;
}

/* Where a load error points: the file, the entry and the field. */
struct where {
	const char *path, *key;
	char *err;
	size_t errlen;
};

static int load_entry(const struct where *w, json_t *e, struct roofline *r);

/* r with the thread counts above r->max_threads that old holds: a
 * measurement at fewer threads never drops a roof at more.  An old entry
 * whose ISAs differ from r's (another mask or machine under the same key)
 * is not merged. */
static void merge_old(struct roofline *r, const struct roofline *old)
{
	if (old->max_threads <= r->max_threads ||
	    memcmp(old->isa_ok, r->isa_ok, sizeof r->isa_ok))
		return;
	for (int t = r->max_threads + 1; t <= old->max_threads; t++) {
		r->bw.best[t] = old->bw.best[t];
		r->bw.median[t] = old->bw.median[t];
		for (int i = 0; i < ROOF_NISA; i++) {
			r->peak[i].best[t] = old->peak[i].best[t];
			r->peak[i].median[t] = old->peak[i].median[t];
		}
	}
	r->max_threads = old->max_threads;
}

int roofline_save(const char *path, const char *key, const struct roofline *rin,
		  char *err, size_t errlen)
{
	struct roofline r_, old, *r = &r_;
	json_t *root, *e;
	int ret = -1;

	*r = *rin;

	if (!key || !*key || r->max_threads < 1 ||
	    r->max_threads > ROOF_MAX_THREADS) {
		snprintf(err, errlen, "%s: empty machine key or bad thread "
			 "count %d", path, r->max_threads);
		return -1;
	}
	switch (read_file(path, &root, err, errlen)) {
	case -1:
		return -1;
	case 0:
		root = json_pack("{s:i, s:{}}", "schema", ROOF_SCHEMA, "machines");
		if (!root) {
			snprintf(err, errlen, "%s: out of memory", path);
			return -1;
		}
	}
	e = json_object_get(json_object_get(root, "machines"), key);
	if (e) {
		char ignored[256];
		const struct where w = { path, key, ignored, sizeof ignored };
		if (load_entry(&w, e, &old) == 0)	/* a bad one is replaced */
			merge_old(r, &old);
	}
	e = entry_json(r);
	if (!e) {
		snprintf(err, errlen, "%s: entry %s holds a value JSON cannot "
			 "represent (not finite, or not UTF-8)", path, key);
		goto put_root;
	}
	json_object_set_new(json_object_get(root, "machines"), key, e);
	ret = write_atomic(path, root, err, errlen);

put_root:
	json_decref(root);
	return ret;
}


static int bad(const struct where *w, const char *field, const char *what)
{
	snprintf(w->err, w->errlen, "%s: machines.%s%s%s: %s", w->path, w->key,
		 *field ? "." : "", field, what);
	return -1;
}

/* o (the object at field) -> s over threads 1..n. */
static int load_series(const struct where *w, const char *field, json_t *o,
		       int n, struct roof_series *s)
{
	static const char *const names[2] = { "best", "median" };
	char f[64];

	for (int k = 0; k < 2; k++) {
		json_t *a = json_object_get(o, names[k]);
		double *dst = k ? s->median : s->best;

		snprintf(f, sizeof f, "%s.%s", field, names[k]);
		if (!json_is_array(a) || json_array_size(a) != (size_t)n)
			return bad(w, f, "expected an array of one number per "
				   "thread count");
		for (int t = 1; t <= n; t++) {
			json_t *x = json_array_get(a, (size_t)t - 1);

			if (!json_is_number(x) || !(json_number_value(x) >= 0))
				return bad(w, f, "expected numbers >= 0");
			dst[t] = json_number_value(x);
		}
	}
	return 0;
}

static int load_entry(const struct where *w, json_t *e, struct roofline *r)
{
	json_t *th = json_object_get(e, "threads");
	json_t *at = json_object_get(e, "measured_at");
	json_t *cpu = json_object_get(e, "cpu");
	json_t *bb = json_object_get(e, "buffer_bytes");
	json_t *g = json_object_get(e, "int8_gmacs");
	int n;

	memset(r, 0, sizeof *r);
	if (!json_is_object(e))
		return bad(w, "", "expected an object");
	n = json_is_array(th) ? (int)json_array_size(th) : 0;
	if (n < 1 || n > ROOF_MAX_THREADS)
		return bad(w, "threads", "expected an array [1, ..., N], N <= 64");
	for (int t = 1; t <= n; t++) {
		json_t *x = json_array_get(th, (size_t)t - 1);

		if (!json_is_integer(x) || json_integer_value(x) != t)
			return bad(w, "threads", "expected 1, 2, ..., N in order");
	}
	r->max_threads = n;
	if (!json_is_string(at) ||
	    json_string_length(at) >= sizeof r->measured_at)
		return bad(w, "measured_at", "expected an ISO-8601 string");
	snprintf(r->measured_at, sizeof r->measured_at, "%s",
		 json_string_value(at));
	if (!json_is_string(cpu))
		return bad(w, "cpu", "expected a string");
	snprintf(r->cpu, sizeof r->cpu, "%s", json_string_value(cpu));
	if (!json_is_integer(bb) || json_integer_value(bb) < 0)
		return bad(w, "buffer_bytes", "expected an integer >= 0");
	r->buffer_bytes = (size_t)json_integer_value(bb);
	if (load_series(w, "bandwidth_gbs", json_object_get(e, "bandwidth_gbs"),
			n, &r->bw))
		return -1;
	if (!json_is_object(g))
		return bad(w, "int8_gmacs", "expected an object");
	for (int i = 0; i < ROOF_NISA; i++) {
		const char *name = roof_isa_name((enum roof_isa)i);
		json_t *s = json_object_get(g, name);
		json_t *av = json_object_get(s, "available");
		json_t *why = json_object_get(s, "why");
		char f[64];

		snprintf(f, sizeof f, "int8_gmacs.%s", name);
		if (!json_is_object(s))
			return bad(w, f, "expected an object");
		if (av && !json_is_boolean(av))
			return bad(w, f, "\"available\" must be true or false");
		r->isa_ok[i] = !json_is_false(av);
		if (r->isa_ok[i]) {
			if (load_series(w, f, s, n, &r->peak[i]))
				return -1;
			continue;
		}
		if (!json_is_string(why))
			return bad(w, f, "an unavailable ISA needs a \"why\" string");
		snprintf(r->isa_why[i], sizeof r->isa_why[i], "%s",
			 json_string_value(why));
	}
	return 0;
}

int roofline_load(const char *path, const char *key, struct roofline *r,
		  char *err, size_t errlen)
{
	const struct where w = { path, key, err, errlen };
	json_t *root, *e;
	int ret;

	ret = read_file(path, &root, err, errlen);
	if (ret <= 0)
		return ret;
	e = json_object_get(json_object_get(root, "machines"), key);
	ret = e ? (load_entry(&w, e, r) ? -1 : 1) : 0;
	json_decref(root);
	return ret;
}
