/* config.c - the best-config file: JSON writer (atomic), reader and
 * validator, and the checks against the machine, model and registry.
 * See config.h for the contracts, docs/config-format.md for the format. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "clock.h"
#include "file.h"
#include "cpu.h"
#include "model.h"
#include "signature.h"
#include "text.h"

#define PATH_MAX_FIELD 192	/* "phases.decode.kernels.<op>.params.<name>" */


static const char *const pin_names[] = { "none", "cores" };

int config_init(struct best_config *c, const struct model *m, char *err,
		size_t errlen)
{
	memset(c, 0, sizeof *c);
	snprintf(c->tool, sizeof c->tool, "q8tune");
	utc_iso8601(c->created, sizeof c->created);
	registry_signature(c->registry_sig, sizeof c->registry_sig);
	c->registry_variants = registry_variant_count();
	for (int ph = 0; ph < PHASE_COUNT; ph++)
		c->phase[ph].threads = 1;
	if (m)
		model_fp_get(m, &c->model);
	return machine_fp_get(&c->machine, err, errlen);
}

void config_free(struct best_config *c)
{
	json_decref(c->measurements);
	c->measurements = NULL;
}

/* --- writing ---------------------------------------------------------- */

/* Sets key of o to v (a new reference, stolen); accumulates failure. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, key, v))
		*bad = 1;
}

static json_t *phase_json(const struct phase_cfg *p, int *bad)
{
	json_t *o = json_object(), *ks = json_object();

	if (!o || !ks) {
		json_decref(o);
		json_decref(ks);
		*bad = 1;
		return NULL;
	}
	put(o, "threads", json_integer(p->threads), bad);
	put(o, "pin", json_string(pin_names[p->pin == PIN_CORES]), bad);
	for (int op = 0; op < OP_COUNT; op++) {
		json_t *e, *pa;

		if (!p->v[op])
			continue;
		e = json_object();
		pa = json_object();
		if (!e || !pa) {
			json_decref(e);
			json_decref(pa);
			*bad = 1;
			continue;
		}
		put(e, "variant", json_string(p->v[op]->name), bad);
		for (int i = 0; i < p->n_params[op] && i < CFG_MAX_PARAMS; i++)
			put(pa, p->params[op][i].name,
			    json_integer(p->params[op][i].value), bad);
		put(e, "params", pa, bad);
		put(ks, kernel_ops[op].name, e, bad);
	}
	put(o, "kernels", ks, bad);
	return o;
}

/* Checks what the writer cannot represent; 0 or -1 with a message. */
static int check_for_write(const struct best_config *c, char *err,
			   size_t errlen)
{
	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		const struct phase_cfg *p = &c->phase[ph];

		if (p->threads < 1 || (p->pin != PIN_NONE && p->pin != PIN_CORES)) {
			snprintf(err, errlen, "phase %s: threads %d, pin %d: "
				 "need threads >= 1 and pin none or cores",
				 phase_name(ph), p->threads, p->pin);
			return -1;
		}
		for (int op = 0; op < OP_COUNT; op++)
			if (p->v[op] && variant_find((enum op_id)op, p->v[op]->name)
					!= p->v[op]) {
				snprintf(err, errlen, "phase %s: the variant for "
					 "%s is not from its table",
					 phase_name(ph), kernel_ops[op].name);
				return -1;
			}
	}
	return 0;
}

static json_t *config_json(const struct best_config *c)
{
	json_t *root = json_object(), *tool = json_object(), *reg = json_object();
	json_t *phases = json_object();
	char created[32];
	int bad = !root || !tool || !reg || !phases;

	if (bad) {
		json_decref(root);
		json_decref(tool);
		json_decref(reg);
		json_decref(phases);
		return NULL;
	}
	if (c->created[0])
		snprintf(created, sizeof created, "%s", c->created);
	else
		utc_iso8601(created, sizeof created);
	put(root, "schema", json_string(CONFIG_SCHEMA), &bad);
	put(root, "schema_version", json_integer(CONFIG_SCHEMA_VERSION), &bad);
	put(tool, "name", json_string(c->tool[0] ? c->tool : "q8tune"), &bad);
	put(tool, "git_rev", json_string(c->git_rev), &bad);
	put(tool, "dirty", json_boolean(c->dirty), &bad);
	put(root, "tool", tool, &bad);
	put(root, "created", json_string(created), &bad);
	put(root, "machine", machine_fp_json(&c->machine), &bad);
	put(root, "model", model_fp_json(&c->model), &bad);
	put(reg, "signature", json_string(c->registry_sig), &bad);
	put(reg, "variants", json_integer(c->registry_variants), &bad);
	put(root, "registry", reg, &bad);
	for (int ph = 0; ph < PHASE_COUNT; ph++)
		put(phases, phase_name(ph), phase_json(&c->phase[ph], &bad), &bad);
	put(root, "phases", phases, &bad);
	if (c->measurements)
		put(root, "measurements", json_incref(c->measurements), &bad);
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}



int config_write(const char *path, const struct best_config *c, char *err,
		 size_t errlen)
{
	char *text = NULL;
	json_t *root;
	int rc;

	if (check_for_write(c, err, errlen) < 0) {
		char why[256];

		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	root = config_json(c);
	if (root)
		text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory building the JSON", path);
		return -1;
	}
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		snprintf(err, errlen, "%s: out of memory building the JSON", path);
		return -1;
	}
	memcpy(line + n, "\n", 2);
	rc = file_write_atomic(path, line, n + 1, 0, err, errlen);
	free(line);
	return rc;
}

/* --- reading ---------------------------------------------------------- */

/* Reader state: where messages go and what they are prefixed with. */
struct rd {
	const char *file;
	char *err;
	size_t errlen;
};

/* Writes "FILE: FIELD: message" (FIELD omitted when ""); returns -1. */
static int rfail(struct rd *r, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rfail(struct rd *r, const char *field, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->err, r->errlen, "%s: %s%s", r->file, field,
		     *field ? ": " : "");
	if (n < 0 || (size_t)n >= r->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	text_oneline(r->err);	/* it quotes the file's strings */
	return -1;
}

/* dst = "path.key" (or "key" when path is ""), truncated to fit; dst
 * may be path itself. */
static void join(char *dst, const char *path, const char *key)
{
	size_t n = strnlen(path, PATH_MAX_FIELD - 1), k = strlen(key);

	memmove(dst, path, n);
	if (n && n < PATH_MAX_FIELD - 1)
		dst[n++] = '.';
	if (k > PATH_MAX_FIELD - 1 - n)
		k = PATH_MAX_FIELD - 1 - n;
	memcpy(dst + n, key, k);
	dst[n + k] = '\0';
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* What a field must be.  NUMBER takes integers and reals, BOOL true and
 * false. */
enum want { W_OBJECT, W_STRING, W_INTEGER, W_NUMBER, W_BOOL };
static const char *const want_names[] = {
	"an object", "a string", "an integer", "a number", "true or false"
};

static int has_type(const json_t *v, enum want w)
{
	switch (w) {
	case W_OBJECT: return json_is_object(v);
	case W_STRING: return json_is_string(v);
	case W_INTEGER: return json_is_integer(v);
	case W_NUMBER: return json_is_number(v);
	default: return json_is_boolean(v);
	}
}

/* Member key of obj (at path) of kind w into *out.  0 found, 1 absent
 * and optional (*out NULL), -1 absent-but-required or mistyped. */
static int member(struct rd *r, const json_t *obj, const char *path,
		  const char *key, enum want w, int required, const json_t **out)
{
	char f[PATH_MAX_FIELD];
	const json_t *v = json_object_get(obj, key);

	*out = v;
	if (!v) {
		if (!required)
			return 1;
		join(f, path, key);
		return rfail(r, f, "missing");
	}
	if (!has_type(v, w)) {
		join(f, path, key);
		return rfail(r, f, "expected %s, got %s", want_names[w],
			     type_name(v));
	}
	return 0;
}

/* Required string member copied into dst (cap bytes). */
static int member_str(struct rd *r, const json_t *obj, const char *path,
		      const char *key, char *dst, size_t cap)
{
	const json_t *v;
	char f[PATH_MAX_FIELD];

	if (member(r, obj, path, key, W_STRING, 1, &v) < 0)
		return -1;
	if (json_string_length(v) >= cap) {
		join(f, path, key);
		return rfail(r, f, "longer than %zu bytes", cap - 1);
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* Required integer member in [lo, hi]. */
static int member_int(struct rd *r, const json_t *obj, const char *path,
		      const char *key, long long lo, long long hi, int *out)
{
	const json_t *v;
	char f[PATH_MAX_FIELD];

	if (member(r, obj, path, key, W_INTEGER, 1, &v) < 0)
		return -1;
	json_int_t x = json_integer_value(v);
	if (x < lo || x > hi) {
		join(f, path, key);
		return rfail(r, f, "%lld is out of range [%lld, %lld]",
			     (long long)x, lo, hi);
	}
	*out = (int)x;
	return 0;
}

/* Refuses members of obj not in the NULL-terminated keys. */
static int only_keys(struct rd *r, const json_t *obj, const char *path,
		     const char *const *keys)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		const char *const *k = keys;
		char f[PATH_MAX_FIELD];

		while (*k && strcmp(*k, key))
			k++;
		if (!*k) {
			join(f, path, key);
			return rfail(r, f, "unknown field");
		}
	}
	return 0;
}

static int find_op(const char *name)
{
	for (int op = 0; op < OP_COUNT; op++)
		if (!strcmp(kernel_ops[op].name, name))
			return op;
	return -1;
}

/* Space-separated names: of every op (op < 0), or of op's variants. */
static void list_names(int op, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	if (op < 0) {
		for (int i = 0; i < OP_COUNT && n < cap; i++)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? " " : "",
					      kernel_ops[i].name);
		return;
	}
	for (const struct variant *v = kernel_ops[op].variants; v->name && n < cap; v++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s",
				      v == kernel_ops[op].variants ? "" : " ", v->name);
}

static int read_params(struct rd *r, const json_t *pa, const char *path,
		       struct phase_cfg *p, int op)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)pa, key, v) {
		char f[PATH_MAX_FIELD];
		int i = p->n_params[op];

		join(f, path, key);
		if (!json_is_integer(v))
			return rfail(r, f, "expected an integer, got %s",
				     type_name(v));
		if (i == CFG_MAX_PARAMS)
			return rfail(r, f, "more than %d params", CFG_MAX_PARAMS);
		if (strlen(key) >= CFG_PARAM_NAME)
			return rfail(r, f, "name longer than %d bytes",
				     CFG_PARAM_NAME - 1);
		snprintf(p->params[op][i].name, CFG_PARAM_NAME, "%s", key);
		p->params[op][i].value = json_integer_value(v);
		p->n_params[op] = i + 1;
	}
	return 0;
}

/* Ops an older build had and this one folded into another: a config
 * naming them still loads, their entries ignored (the registry signature
 * check already warns that the registry changed since tuning). */
static int retired_op(const char *name)
{
	static const char *const retired[] = {
		"dot", "softmax", "axpy",	/* into attention */
		NULL,
	};

	for (int i = 0; retired[i]; i++)
		if (!strcmp(name, retired[i]))
			return 1;
	return 0;
}

/* One entry of phases.<ph>.kernels: {"variant": name, "params": {...}}. */
static int read_choice(struct rd *r, const char *path, const char *opname,
		       const json_t *e, uint32_t features, struct phase_cfg *p)
{
	static const char *const keys[] = { "variant", "params", NULL };
	char f[PATH_MAX_FIELD], fp[PATH_MAX_FIELD], names[400];
	const json_t *vn, *pa;
	const struct variant *v;
	int op = find_op(opname);

	join(f, path, opname);
	if (op < 0 && retired_op(opname))
		return 0;	/* its choice no longer means anything */
	if (op < 0) {
		list_names(-1, names, sizeof names);
		return rfail(r, f, "unknown op (known: %s)", names);
	}
	if (!json_is_object(e))
		return rfail(r, f, "expected an object, got %s", type_name(e));
	if (only_keys(r, e, f, keys) < 0 ||
	    member(r, e, f, "variant", W_STRING, 1, &vn) < 0)
		return -1;
	if (!(v = variant_find((enum op_id)op, json_string_value(vn)))) {
		list_names(op, names, sizeof names);
		return rfail(r, f, "unknown variant '%s' (known: %s)",
			     json_string_value(vn), names);
	}
	if (v->needs & ~features) {
		const struct cpu_info *ci = cpu_get();
		int masked = (v->needs & ~features & ci->hw & ~ci->features) &&
			     ci->mask_name;

		cpu_features_str(v->needs & ~features, names, sizeof names);
		return rfail(r, f, "variant '%s' needs %s which this CPU lacks%s%s%s",
			     v->name, names, masked ? " (hidden by Q8TUNE_CPU_MASK=" : "",
			     masked ? ci->mask_name : "", masked ? ")" : "");
	}
	p->v[op] = v;
	if (member(r, e, f, "params", W_OBJECT, 0, &pa) < 0)
		return -1;
	join(fp, f, "params");
	return pa ? read_params(r, pa, fp, p, op) : 0;
}

static int read_phase(struct rd *r, const json_t *phases, int ph,
		      uint32_t features, struct phase_cfg *p)
{
	static const char *const keys[] = { "threads", "pin", "kernels", NULL };
	char path[PATH_MAX_FIELD], f[PATH_MAX_FIELD];
	const json_t *o, *pin, *ks;
	const char *key;
	json_t *e;

	join(path, "phases", phase_name(ph));
	if (member(r, phases, "phases", phase_name(ph), W_OBJECT, 1, &o) < 0 ||
	    only_keys(r, o, path, keys) < 0 ||
	    member_int(r, o, path, "threads", 1, 1024, &p->threads) < 0 ||
	    member(r, o, path, "pin", W_STRING, 1, &pin) < 0)
		return -1;
	if (!strcmp(json_string_value(pin), "none")) {
		p->pin = PIN_NONE;
	} else if (!strcmp(json_string_value(pin), "cores")) {
		p->pin = PIN_CORES;
	} else {
		join(f, path, "pin");
		return rfail(r, f, "'%s' is not none or cores",
			     json_string_value(pin));
	}
	if (member(r, o, path, "kernels", W_OBJECT, 1, &ks) < 0)
		return -1;
	join(path, path, "kernels");
	json_object_foreach((json_t *)ks, key, e)
		if (read_choice(r, path, key, e, features, p) < 0)
			return -1;
	return 0;
}

/* A {median_ms, ci_lo, ci_hi, n} object; extra fields are kept. */
static int read_stat(struct rd *r, const json_t *o, const char *path)
{
	static const char *const nums[] = { "median_ms", "ci_lo", "ci_hi" };
	const json_t *v;

	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (member(r, o, path, nums[i], W_NUMBER, 1, &v) < 0)
			return -1;
	return member(r, o, path, "n", W_INTEGER, 1, &v) < 0 ? -1 : 0;
}

/* measurements (optional): the known per-phase fields are type-checked,
 * everything else is kept as it is. */
static int read_measurements(struct rd *r, const json_t *m)
{
	static const char *const stats[] = { "default", "all_scalar", "tuned" };
	static const char *const ratios[] = { "speedup_vs_default",
					      "speedup_vs_scalar" };

	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		char path[PATH_MAX_FIELD], f[PATH_MAX_FIELD];
		const json_t *o, *v;
		int rc = member(r, m, "measurements", phase_name(ph), W_OBJECT,
				0, &o);

		if (rc < 0)
			return -1;
		if (rc)
			continue;
		join(path, "measurements", phase_name(ph));
		for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++) {
			if ((rc = member(r, o, path, stats[i], W_OBJECT, 0, &v)) < 0)
				return -1;
			join(f, path, stats[i]);
			if (!rc && read_stat(r, v, f) < 0)
				return -1;
		}
		for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++)
			if (member(r, o, path, ratios[i], W_NUMBER, 0, &v) < 0)
				return -1;
	}
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" and nothing else. */
static int iso_utc(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return end && !*end && strlen(s) == 20;
}

static int read_root(struct rd *r, const json_t *root, uint32_t features,
		     struct best_config *c)
{
	static const char *const keys[] = {
		"schema", "schema_version", "tool", "created", "machine",
		"model", "registry", "phases", "measurements", NULL
	};
	static const char *const tool_keys[] = { "name", "git_rev", "dirty", NULL };
	static const char *const reg_keys[] = { "signature", "variants", NULL };
	static const char *const phase_keys[] = { "prompt", "decode", NULL };
	const json_t *v, *o;
	char msg[256];
	int rc;

	if (!json_is_object(root))
		return rfail(r, "", "expected a JSON object, got %s",
			     type_name(root));
	/* the schema first: a file of another kind says so, not "unknown field" */
	if (member(r, root, "", "schema", W_STRING, 1, &v) < 0)
		return -1;
	if (strcmp(json_string_value(v), CONFIG_SCHEMA))
		return rfail(r, "schema", "'%s' is not %s", json_string_value(v),
			     CONFIG_SCHEMA);
	if (member(r, root, "", "schema_version", W_INTEGER, 1, &v) < 0)
		return -1;
	if (json_integer_value(v) != CONFIG_SCHEMA_VERSION)
		return rfail(r, "schema_version", "%lld is not supported (this "
			     "build reads version %d)",
			     (long long)json_integer_value(v), CONFIG_SCHEMA_VERSION);
	if (only_keys(r, root, "", keys) < 0)
		return -1;

	if (member(r, root, "", "tool", W_OBJECT, 1, &o) < 0 ||
	    only_keys(r, o, "tool", tool_keys) < 0 ||
	    member_str(r, o, "tool", "name", c->tool, sizeof c->tool) < 0 ||
	    member_str(r, o, "tool", "git_rev", c->git_rev, sizeof c->git_rev) < 0 ||
	    member(r, o, "tool", "dirty", W_BOOL, 1, &v) < 0)
		return -1;
	c->dirty = json_is_true(v);

	if (member_str(r, root, "", "created", c->created, sizeof c->created) < 0)
		return -1;
	if (!iso_utc(c->created))
		return rfail(r, "created", "'%s' is not YYYY-MM-DDTHH:MM:SSZ",
			     c->created);

	if (member(r, root, "", "machine", W_OBJECT, 1, &o) < 0)
		return -1;
	if (machine_fp_from_json(o, &c->machine, msg, sizeof msg) < 0)
		return rfail(r, "machine", "%s", msg);
	if (member(r, root, "", "model", W_OBJECT, 1, &o) < 0)
		return -1;
	/* model_fp_from_json's messages start with the field name */
	if (model_fp_from_json(o, &c->model, msg, sizeof msg) < 0)
		return rfail(r, "", "model.%s", msg);

	if (member(r, root, "", "registry", W_OBJECT, 1, &o) < 0 ||
	    only_keys(r, o, "registry", reg_keys) < 0 ||
	    member_str(r, o, "registry", "signature", c->registry_sig,
		       sizeof c->registry_sig) < 0 ||
	    member_int(r, o, "registry", "variants", 0, 1 << 20,
		       &c->registry_variants) < 0)
		return -1;

	if (member(r, root, "", "phases", W_OBJECT, 1, &o) < 0 ||
	    only_keys(r, o, "phases", phase_keys) < 0)
		return -1;
	for (int ph = 0; ph < PHASE_COUNT; ph++)
		if (read_phase(r, o, ph, features, &c->phase[ph]) < 0)
			return -1;

	if ((rc = member(r, root, "", "measurements", W_OBJECT, 0, &o)) < 0)
		return -1;
	if (!rc) {
		if (read_measurements(r, o) < 0)
			return -1;
		c->measurements = json_incref((json_t *)o);
	}
	return 0;
}

int config_read(const char *path, uint32_t features, struct best_config *c,
		char *err, size_t errlen)
{
	struct rd r = { .file = path, .err = err, .errlen = errlen };
	json_error_t je;
	json_t *root;
	int rc;

	memset(c, 0, sizeof *c);
	snprintf(c->path, sizeof c->path, "%s", path);
	FILE *f = file_fopen_read(path, err, errlen);
	if (!f)
		return -1;
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (!root) {
		if (je.line > 0)
			return rfail(&r, "", "line %d column %d: %s", je.line,
				     je.column, je.text);
		return rfail(&r, "", "%s", je.text);
	}
	rc = read_root(&r, root, features, c);
	json_decref(root);
	if (rc < 0)
		config_free(c);
	return rc;
}

/* --- checks ----------------------------------------------------------- */

/* Appends one line to warn; counts it. */
static void warn_line(char *warn, size_t cap, int *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void warn_line(char *warn, size_t cap, int *n, const char *fmt, ...)
{
	size_t len = cap ? strlen(warn) : 0;
	va_list ap;

	if (len && len + 1 < cap) {
		warn[len++] = '\n';
		warn[len] = '\0';
	}
	if (len + 1 < cap) {
		va_start(ap, fmt);
		vsnprintf(warn + len, cap - len, fmt, ap);
		va_end(ap);
	}
	(*n)++;
}

int config_check(const struct best_config *c, const struct machine_fp *here,
		 const struct model_fp *model, char *warn, size_t cap)
{
	const char *file = c->path[0] ? c->path : "config";
	const char *d;
	char sig[REGISTRY_SIG_LEN];
	int n = 0;

	if (cap)
		warn[0] = '\0';
	if (here && (d = machine_fp_diff(&c->machine, here)))
		warn_line(warn, cap, &n, "%s: machine fingerprint differs: %s "
			  "(tuned there, running here)", file, d);
	if (model && (d = model_fp_diff(&c->model, model)))
		warn_line(warn, cap, &n, "%s: model fingerprint differs: %s "
			  "(tuned for the first)", file, d);
	registry_signature(sig, sizeof sig);
	if (strcmp(sig, c->registry_sig) ||
	    c->registry_variants != registry_variant_count())
		warn_line(warn, cap, &n, "%s: registry signature differs: %s "
			  "(%d variants) != this build's %s (%d variants); "
			  "variants were added, removed or renamed since tuning",
			  file, c->registry_sig, c->registry_variants, sig,
			  registry_variant_count());
	return n;
}

/* 1 if Q8TUNE_<OP> (as kernels_default reads it) is set for op. */
static int env_overrides(int op)
{
	char env[64];
	const char *v;

	snprintf(env, sizeof env, "Q8TUNE_%s", kernel_ops[op].name);
	for (char *p = env; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	v = getenv(env);
	return v && *v;
}

int config_kernels(const struct best_config *c, enum phase ph,
		   struct kernels *k, char *err, size_t errlen)
{
	const char *file = c->path[0] ? c->path : "config";
	const char *why;

	if (ph < 0 || ph >= PHASE_COUNT) {
		snprintf(err, errlen, "%s: no phase %d", file, (int)ph);
		return -1;
	}
	if (kernels_default(k, err, errlen) < 0)
		return -1;
	for (int op = 0; op < OP_COUNT; op++) {
		const struct variant *v = c->phase[ph].v[op];

		if (!v || env_overrides(op))
			continue;
		if ((why = variant_unusable(v))) {
			snprintf(err, errlen, "%s: phases.%s.kernels.%s: variant "
				 "'%s' cannot run here: %s", file, phase_name(ph),
				 kernel_ops[op].name, v->name, why);
			return -1;
		}
		k->v[op] = v;
	}
	return 0;
}

/* --- loading for use -------------------------------------------------------- */

/* One warning line through warn (nothing when warn is NULL). */
void config_warnf(config_warn_fn warn, void *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	warn(ctx, line);
}

/* Passes each line of a '\n'-joined list to warn. */
static void warn_lines(config_warn_fn warn, void *ctx, const char *w)
{
	while (*w) {
		size_t n = strcspn(w, "\n");
		config_warnf(warn, ctx, "%.*s", (int)n, w);
		w += n + (w[n] == '\n');
	}
}

int config_load(const char *path, int fallback, const struct model *m,
		   struct best_config *c, struct kernels k[PHASE_COUNT],
		   config_warn_fn warn, void *warn_ctx, char *err, size_t errlen)
{
	struct machine_fp here;
	struct model_fp mfp;
	char w[2048], why[256];
	int have_here;

	if (config_read(path, cpu_get()->features, c, err, errlen) == 0) {
		if (config_kernels(c, PHASE_PROMPT, &k[PHASE_PROMPT], err, errlen) == 0 &&
		    config_kernels(c, PHASE_DECODE, &k[PHASE_DECODE], err, errlen) == 0)
			goto check;
		config_free(c);
	}
	if (!fallback)
		return -1;
	config_warnf(warn, warn_ctx, "%s; running with the default kernels", err);
	if (kernels_default(&k[PHASE_PROMPT], err, errlen) < 0)
		return -1;
	k[PHASE_DECODE] = k[PHASE_PROMPT];
	return 0;

check:
	have_here = machine_fp_get(&here, why, sizeof why) == 0;
	if (!have_here)
		config_warnf(warn, warn_ctx, "machine not checked against %s: %s", path,
		      why);
	model_fp_get(m, &mfp);
	if (config_check(c, have_here ? &here : NULL, &mfp, w, sizeof w))
		warn_lines(warn, warn_ctx, w);
	return 1;
}
