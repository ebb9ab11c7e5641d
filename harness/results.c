/* results.c - run records and the runs.jsonl file (see results.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "file.h"
#include "fingerprint.h"
#include "gguf.h"
#include "model.h"
#include "results.h"
#include "rows.h"

/* A number, or null where it is undefined (sd and cv of one sample). */
static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *stats_json(const struct stats *s)
{
	return json_pack("{s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "n", s->n, "median", real_or_null(s->median),
			 "mad", real_or_null(s->mad), "q1", real_or_null(s->q1),
			 "q3", real_or_null(s->q3), "iqr", real_or_null(s->iqr),
			 "mean", real_or_null(s->mean), "sd", real_or_null(s->sd),
			 "cv", real_or_null(s->cv), "min", real_or_null(s->min),
			 "max", real_or_null(s->max), "ci_lo", real_or_null(s->ci_lo),
			 "ci_hi", real_or_null(s->ci_hi));
}

json_t *ctr_sample_json(const struct ctr_sample *c)
{
	json_t *o = json_object();

	for (int i = 0; o && i < c->n; i++)
		json_object_set_new(o, c->name[i], json_real(c->v[i]));
	return o;
}

const char *bench_test_name(enum bench_kind kind, int n_tokens, int n_depth,
			    char *buf, size_t cap)
{
	int at = snprintf(buf, cap, "%s%d", kind == ROW_PP ? "pp" : "tg", n_tokens);

	if (n_depth > 0 && at >= 0 && (size_t)at < cap)
		snprintf(buf + at, cap - (size_t)at, " @ d%d", n_depth);
	return buf;
}

const char *bench_row_test(const struct bench_row *r, char *buf, size_t cap)
{
	return bench_test_name(r->kind, r->n_tokens, r->n_depth, buf, cap);
}

static const char *const stop_names[] = {
	[STOP_CI] = "ci", [STOP_BUDGET] = "budget", [STOP_MAX_REPS] = "max_reps",
};

json_t *bench_row_json(const struct bench_row *r)
{
	json_t *samples = json_array(), *warn = json_array(), *o;
	char test[32];

	for (int i = 0; samples && i < r->n; i++)
		json_array_append_new(samples, json_real(r->ms[i]));
	if (r->warn & BW_CV)
		json_array_append_new(warn, json_string("cv>5%"));
	if (r->warn & BW_NIVCSW)
		json_array_append_new(warn, json_string("involuntary_context_switches"));
	if (r->warn & BW_CI)
		json_array_append_new(warn, json_string("ci_target_not_reached"));
	if (r->warn & BW_OVER)
		json_array_append_new(warn, json_string("budget_exceeded"));
	o = json_pack("{s:s,s:s,s:i,s:i,s:s,s:o,s:o,s:f,s:o,s:o,s:f}",
		      "test", bench_row_test(r, test, sizeof test),
		      "kind", r->kind == ROW_PP ? "pp" : "tg",
		      "n_tokens", r->n_tokens, "n_depth", r->n_depth,
		      "unit", r->kind == ROW_PP ? "ms/batch" : "ms/token",
		      "samples_ms", samples, "stats", stats_json(&r->st),
		      "tokens_per_s", r->tok_s, "counters", ctr_sample_json(&r->ctr),
		      "warnings", warn, "wall_ms", r->wall_ms);
	if (o)
		json_object_set_new(o, "stop", json_string(stop_names[r->stop]));
	return o;
}

/* --- the run record --------------------------------------------------------- */

static json_t *kernels_json(const struct kernels *k)
{
	json_t *o = json_object();

	for (int op = 0; o && op < OP_COUNT; op++)
		json_object_set_new(o, kernel_ops[op].name,
				    json_string(k->v[op]->name));
	return o;
}

json_t *run_setup_json(const struct run_setup *s)
{
	return json_pack("{s:s,s:o,s:o,s:i,s:i,s:s}", "name", s->name,
			 "prompt_kernels", kernels_json(s->k[PHASE_PROMPT]),
			 "decode_kernels", kernels_json(s->k[PHASE_DECODE]),
			 "prompt_threads", s->threads[PHASE_PROMPT],
			 "decode_threads", s->threads[PHASE_DECODE],
			 "scratch", scratch_mode_name(s->scratch));
}

double row_floor_ms(const struct run_floors *f, const struct bench_row *r,
		    int threads)
{
	const double macs = r->kind == ROW_TG ? 0 : f->macs * r->n_tokens;

	return roofline_floor_ms(f->r, threads, f->bytes, macs);
}

json_t *row_json(const struct bench_row *r, const struct run_floors *f,
		 int threads)
{
	json_t *o = bench_row_json(r);

	if (o)
		json_object_set_new(o, "threads", json_integer(threads));
	if (o && f->r) {
		const double floor = row_floor_ms(f, r, threads);
		json_object_set_new(o, "floor_ms", json_real(floor));
		json_object_set_new(o, "pct_of_floor",
				    json_real(100 * floor / r->st.median));
		if (floor > r->st.median)	/* faster than the roofline allows */
			json_array_append_new(json_object_get(o, "warnings"),
					      json_string("above_floor"));
	}
	return o;
}

double prof_roof_pct(const struct prof_row *p, const struct roofline *r,
		     int threads)
{
	return 100 * roofline_floor_ms(r, threads, p->bytes,
				       p->int8 ? p->macs : 0) / (p->ns * 1e-6);
}

int prof_is_attention(int op)
{
	const char *n = prof_op_name((enum prof_op)op);

	return !strncmp(n, "attn", 4) || !strcmp(n, "attention");
}

/* The ops of a profile, each with its warnings: above_roof when its
 * time is under what the roof allows.  *sum_ns, *attn_ns: the ops' time
 * and attention's, over all passes. */
static json_t *profile_ops(const struct prof_in *in, double *sum_ns,
			   double *attn_ns)
{
	const struct prof *p = in->p;
	const double passes = p->passes ? (double)p->passes : 1;
	json_t *rows = json_array();

	*sum_ns = *attn_ns = 0;
	for (int i = 0; rows && i < PROF_COUNT; i++) {
		const struct prof_row *pr = &p->r[i];
		json_t *o, *w = json_array();

		if (!pr->calls)
			continue;
		*sum_ns += pr->ns;
		if (prof_is_attention(i))
			*attn_ns += pr->ns;
		o = json_pack("{s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:b,s:o}",
			"op", prof_op_name(i), "calls_per_pass", pr->calls / passes,
			"ms_per_pass", pr->ns / passes / 1e6,
			"share", pr->ns / p->pass_ns, "bytes_per_pass", pr->bytes / passes,
			"macs_per_pass", pr->macs / passes, "gb_s", pr->bytes / pr->ns,
			"gmac_s", pr->macs / pr->ns, "int8", pr->int8, "warnings", w);
		if (o && in->roof) {
			const double pct = prof_roof_pct(pr, in->roof, in->threads);
			json_object_set_new(o, "pct_of_roof", json_real(pct));
			if (pct > 100)
				json_array_append_new(w, json_string("above_roof"));
		}
		json_array_append_new(rows, o);
	}
	return rows;
}

json_t *profile_json(const struct prof_in *in)
{
	const struct prof *p = in->p;
	const double passes = p->passes ? (double)p->passes : 1;
	double sum_ns, attn_ns;
	json_t *ops = profile_ops(in, &sum_ns, &attn_ns);
	json_t *w = json_array();
	char test[48];

	/* a cost of profiling below zero beyond its CI is not noise of the
	 * profiled samples: the plain ones were disturbed */
	if (in->ov.hi < 0)
		json_array_append_new(w, json_string("overhead_below_zero"));
	return json_pack("{s:s,s:s,s:i,s:i,s:i,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,"
			 "s:o,s:o}",
			 "test", bench_test_name(in->kind, in->n_tokens, in->n_depth,
						 test, sizeof test),
			 "kind", in->kind == ROW_PP ? "pp" : "tg",
			 "n_tokens", in->n_tokens, "n_depth", in->n_depth,
			 "threads", in->threads, "passes", (json_int_t)p->passes,
			 "pass_ms", p->pass_ns / passes / 1e6,
			 "sum_of_ops_share", sum_ns / p->pass_ns,
			 "attention_share", attn_ns / p->pass_ns,
			 "attention_ms_per_pass", attn_ns / passes / 1e6,
			 "overhead", in->ov.ratio_m1, "overhead_ci_lo", in->ov.lo,
			 "overhead_ci_hi", in->ov.hi, "warnings", w, "ops", ops);
}

json_t *bench_ab_json(const struct bench_ab *ab, int threads)
{
	return json_pack("{s:o,s:o,s:i,s:f,s:f,s:f,s:f,s:f,s:b,s:b}",
			 "a", bench_row_json(&ab->a), "b", bench_row_json(&ab->b),
			 "threads", threads,
			 "ratio_b_over_a", ab->ratio, "ratio_ci_lo", ab->ratio_lo,
			 "ratio_ci_hi", ab->ratio_hi, "mann_whitney_p", ab->p,
			 "mann_whitney_u", ab->u, "significant", ab->significant,
			 "practical", ab->practical);
}

json_t *counters_json(struct counters *c)
{
	struct ctr_avail a;

	counters_avail(c, &a);
	return json_pack("{s:b,s:b,s:b,s:s,s:s,s:s,s:s}", "hardware", a.hw,
			 "software", a.sw, "rusage", a.rusage, "hardware_why",
			 a.hw_why, "software_why", a.sw_why, "papi_version",
			 a.papi_version, "status", counters_status(c));
}

/* {fingerprint..., path, weights} */
static json_t *model_json(const struct model *m, const char *path)
{
	struct model_fp mfp;
	json_t *o;

	model_fp_get(m, &mfp);
	o = model_fp_json(&mfp);
	if (o) {
		json_int_t size = 0, params = 0;
		for (uint64_t i = 0; i < m->g->n_tensors; i++) {
			const struct gguf_tensor *t = &m->g->tensors[i];
			json_int_t ne = 1;
			for (int d = 0; d < GGUF_MAX_DIMS; d++)
				ne *= (json_int_t)t->ne[d];
			size += (json_int_t)t->size;
			params += ne;
		}
		json_object_set_new(o, "size_bytes", json_integer(size));
		json_object_set_new(o, "n_params", json_integer(params));
		json_object_set_new(o, "path", json_string(path));
		json_object_set_new(o, "weights",
				    json_string(weights_mode_name(m->wmode)));
	}
	return o;
}

static json_t *int_array(const int *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

json_t *run_record(const struct run_info *ri)
{
	const struct env_info *e = ri->env;
	const struct bench_spec *sp = ri->sp;
	json_t *cfg = ri->setup[1] ?
		json_pack("{s:s,s:o,s:o}", "name", "ab",
			  "a", run_setup_json(ri->setup[0]),
			  "b", run_setup_json(ri->setup[1])) :
		run_setup_json(ri->setup[0]);
	json_t *rec = json_pack("{s:s,s:i,s:s,s:{s:s,s:b,s:s,s:s},s:o,s:o,s:i,"
		"s:s,s:o,s:b,s:o,s:o,s:{s:i,s:i,s:i,s:f,s:f,s:i},s:O}",
		"schema", RUN_SCHEMA, "schema_version", RUN_SCHEMA_VERSION,
		"time", ri->when,
		"tool", "git_rev", e->git_rev, "dirty", e->git_dirty,
		"compiler", e->compiler, "cflags", e->cflags,
		"env", env_json(e), "counters", counters_json(ri->ctr),
		"threads", ri->threads, "pin", ri->pin ? "cores" : "none",
		"cpus_seen", int_array(ri->cpus_seen, ri->n_cpus),
		"cpu_moved", ri->cpu_moved,
		"model", model_json(ri->m, ri->model_path), "config", cfg,
		"spec", "n_prompt", ri->n_prompt, "n_gen", ri->n_gen,
		"min_reps", sp->min_reps, "budget_ms", sp->budget_ms,
		"ci_target", sp->ci_target, "warmup", sp->warmup,
		"rows", ri->rows);

	if (!rec)
		return NULL;
	if (ri->sweep)
		json_object_set(json_object_get(rec, "spec"), "sweep", ri->sweep);
	if (json_array_size(ri->ab))
		json_object_set(rec, "ab", ri->ab);
	if (json_array_size(ri->profile))
		json_object_set(rec, "profile", ri->profile);
	if (ri->floors && ri->floors->r) {
		const struct roofline *r = ri->floors->r;
		json_object_set_new(rec, "roofline", json_pack("{s:s,s:s,s:f,s:f}",
			"key", ri->roof_key, "measured_at", r->measured_at,
			"bandwidth_gbs", r->bw.best[ri->threads],
			"int8_gmacs", roofline_int8_peak(r, ri->threads, NULL)));
	}
	return rec;
}

/* Cuts a torn last line (one without its '\n') off fd (open for
 * reading and writing); returns the file's size after, or -1. */
static off_t cut_torn_tail(int fd)
{
	struct stat st;
	char buf[4096];
	off_t end;

	if (fstat(fd, &st) < 0)
		return -1;
	end = st.st_size;
	while (end > 0) {
		const off_t at = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
		const ssize_t n = pread(fd, buf, (size_t)(end - at), at);
		if (n != end - at)
			return -1;
		for (ssize_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				end = at + i;
				goto cut;
			}
		end = at;
	}
cut:
	if (end == st.st_size)
		return end;
	return ftruncate(fd, end) < 0 ? -1 : end;
}

int results_append(const char *path, const json_t *rec, char *err,
		   size_t errlen)
{
	char *line = json_dumps(rec, JSON_COMPACT | JSON_REAL_PRECISION(17));
	size_t n;
	ssize_t w;
	off_t size;
	int fd = -1, rc = -1;

	if (!line) {
		snprintf(err, errlen, "%s: cannot encode the run record", path);
		return -1;
	}
	n = strlen(line);
	line[n++] = '\n';	/* json_dumps' NUL becomes the newline */
	if (file_mkdirs(path) < 0 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC |
		       O_NONBLOCK, 0666)) < 0) {
		snprintf(err, errlen, "%s: cannot open for appending: %s", path,
			 strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (flock(fd, LOCK_EX) < 0 || (size = cut_torn_tail(fd)) < 0) {
		snprintf(err, errlen, "%s: cannot lock or repair: %s", path,
			 strerror(errno));
		goto out;
	}
	w = write(fd, line, n);
	if (w != (ssize_t)n) {
		int e = w < 0 ? errno : ENOSPC;
		if (ftruncate(fd, size) < 0) {
			/* the torn line is cut by the next append */
		}
		snprintf(err, errlen, "%s: write failed: %s", path, strerror(e));
		goto out;
	}
	if (fsync(fd) < 0) {
		snprintf(err, errlen, "%s: fsync failed: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	return rc;
}

int results_csv(const char *path, FILE *out, int *skipped, char *err,
		size_t errlen)
{
	FILE *f = file_fopen_read(path, err, errlen);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	*skipped = 0;
	if (!f)
		return -1;
	rv_csv_header(out);
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *rec;
		if (line[len - 1] != '\n' ||
		    !(rec = json_loads(line, 0, NULL))) {
			++*skipped;
			continue;
		}
		const char *schema = json_string_value(json_object_get(rec, "schema"));
		if (!schema || strcmp(schema, RUN_SCHEMA) ||
		    !json_is_array(json_object_get(rec, "rows")))
			++*skipped;
		else
			rv_record(rec, rv_csv_fn, out);
		json_decref(rec);
	}
	free(line);
	fclose(f);
	return 0;
}
