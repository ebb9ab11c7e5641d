/* env.c - machine fingerprint, environment record and pin plan.
 *
 * The topology comes from hwloc, loaded with INCLUDE_DISALLOWED so the
 * fingerprint describes the whole machine whatever cgroup or cpuset this
 * process runs in (a config file must not change with `taskset`); the pin
 * plan then keeps to the PUs hwloc reports as allowed.
 *
 * The build identity (git revision, CFLAGS) comes from $(B)/version.h,
 * which the Makefile rewrites only when its content changes. */
#include <ctype.h>
#include <hwloc.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "cpu.h"
#include "env.h"
#include "hash.h"

#if defined(__has_include)
#if __has_include("version.h")
#include "version.h"
#endif
#endif
#ifndef Q8_GIT_REV
#define Q8_GIT_REV "unknown"	/* built without the Makefile's version.h */
#define Q8_GIT_DIRTY 0
#endif
#ifndef Q8_CFLAGS
#define Q8_CFLAGS "unknown"
#endif

#if defined(__clang__)
#define Q8_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define Q8_COMPILER "gcc " __VERSION__
#else
#define Q8_COMPILER __VERSION__
#endif

#define GOVERNOR_PATH "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"

/* --- the fingerprint's fields: one table for JSON, diff and key ------- */

enum fkind {
	F_STR,			/* char array */
	F_HEX,			/* unsigned, shown in hex */
	F_FEAT,			/* uint32_t feature mask */
	F_INT,			/* int >= 0 */
	F_SIZE,			/* size_t */
};

struct fp_field {
	const char *name;	/* JSON key */
	const char *label;	/* what machine_fp_diff calls it */
	enum fkind kind;
	size_t off, size;
};

#define FLD(f, label, kind) \
	{ #f, label, kind, offsetof(struct machine_fp, f), sizeof(((struct machine_fp *)0)->f) }

static const struct fp_field fp_fields[] = {
	FLD(vendor, "vendor", F_STR),
	FLD(brand, "brand", F_STR),
	FLD(family, "cpu family", F_HEX),
	FLD(model, "cpu model", F_HEX),
	FLD(stepping, "cpu stepping", F_HEX),
	FLD(features, "features", F_FEAT),
	FLD(cores, "cores", F_INT),
	FLD(pus, "pus", F_INT),
	FLD(numa_nodes, "numa_nodes", F_INT),
	FLD(packages, "packages", F_INT),
	FLD(l1d, "l1d", F_SIZE),
	FLD(l2, "l2", F_SIZE),
	FLD(l3, "l3", F_SIZE),
	FLD(l3_count, "l3_count", F_INT),
};

#define N_FIELDS (sizeof fp_fields / sizeof fp_fields[0])

static const void *fld_ptr(const struct machine_fp *fp, const struct fp_field *f)
{
	return (const char *)fp + f->off;
}

/* The numeric value of a non-string field. */
static unsigned long long fld_get(const struct machine_fp *fp,
				  const struct fp_field *f)
{
	const void *v = fld_ptr(fp, f);

	switch (f->kind) {
	case F_HEX:
		return *(const unsigned *)v;
	case F_FEAT:
		return *(const uint32_t *)v;
	case F_INT:
		return (unsigned long long)*(const int *)v;
	case F_SIZE:
		return *(const size_t *)v;
	case F_STR:
		break;
	}
	return 0;
}

/* The largest value a non-string field holds. */
static unsigned long long fld_max(const struct fp_field *f)
{
	switch (f->kind) {
	case F_HEX:
		return UINT_MAX;
	case F_FEAT:
		return UINT32_MAX;
	case F_INT:
		return INT_MAX;
	case F_SIZE:
		return SIZE_MAX;
	case F_STR:
		break;
	}
	return 0;
}

static void fld_set(struct machine_fp *fp, const struct fp_field *f,
		    unsigned long long x)
{
	void *v = (char *)fp + f->off;

	switch (f->kind) {
	case F_HEX:
		*(unsigned *)v = (unsigned)x;
		break;
	case F_FEAT:
		*(uint32_t *)v = (uint32_t)x;
		break;
	case F_INT:
		*(int *)v = (int)x;
		break;
	case F_SIZE:
		*(size_t *)v = (size_t)x;
		break;
	case F_STR:
		break;
	}
}

/* "32K", "512K", "32M", or plain bytes when not a round multiple. */
static void fmt_size(char *buf, size_t cap, size_t b)
{
	static const char unit[] = "KMGT";
	int u = -1;

	while (b && b % 1024 == 0 && u < 3) {
		b /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, cap, "%zu", b);
	else
		snprintf(buf, cap, "%zu%c", b, unit[u]);
}

/* The three cache sizes of m as fmt_size writes them. */
struct cache_strs {
	char l1d[24], l2[24], l3[24];
};

static struct cache_strs cache_strs(const struct machine_fp *m)
{
	struct cache_strs c;

	fmt_size(c.l1d, sizeof c.l1d, m->l1d);
	fmt_size(c.l2, sizeof c.l2, m->l2);
	fmt_size(c.l3, sizeof c.l3, m->l3);
	return c;
}

/* --- hwloc ------------------------------------------------------------ */

/* The machine's topology, loaded once per process (the first load costs
 * about 150 ms here, later ones 5 ms; the tuner's children inherit it) and
 * kept, like cpu_get()'s answer.  Called by the one thread that sets up
 * measurements.  0, or -1 with a message (a later call tries again). */
static int topo_load(hwloc_topology_t *out, char *err, size_t errlen)
{
	static hwloc_topology_t topo;
	hwloc_topology_t t;

	if (topo) {
		*out = topo;
		return 0;
	}
	if (hwloc_topology_init(&t)) {
		snprintf(err, errlen, "hwloc: topology init failed");
		return -1;
	}
	if (hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) ||
	    hwloc_topology_load(t)) {
		snprintf(err, errlen, "hwloc: topology load failed");
		hwloc_topology_destroy(t);
		return -1;
	}
	*out = topo = t;
	return 0;
}

/* Objects of a type, 0 if none or spread over several depths. */
static int count(hwloc_topology_t t, hwloc_obj_type_t type)
{
	int n = hwloc_get_nbobjs_by_type(t, type);

	return n > 0 ? n : 0;
}

/* Bytes of the first cache of a type, 0 if unknown. */
static size_t cache_size(hwloc_topology_t t, hwloc_obj_type_t type)
{
	hwloc_obj_t o = hwloc_get_obj_by_type(t, type, 0);

	return o && o->attr ? (size_t)o->attr->cache.size : 0;
}

int machine_fp_get(struct machine_fp *fp, char *err, size_t errlen)
{
	const struct cpu_info *ci = cpu_get();
	hwloc_topology_t t;

	memset(fp, 0, sizeof *fp);
	memcpy(fp->vendor, ci->vendor, sizeof fp->vendor);
	memcpy(fp->brand, ci->brand, sizeof fp->brand);
	fp->family = ci->family;
	fp->model = ci->model;
	fp->stepping = ci->stepping;
	fp->features = ci->hw;

	if (topo_load(&t, err, errlen))
		return -1;
	fp->pus = count(t, HWLOC_OBJ_PU);
	fp->cores = count(t, HWLOC_OBJ_CORE);
	if (!fp->cores)		/* no core level reported: each PU its own */
		fp->cores = fp->pus;
	fp->numa_nodes = count(t, HWLOC_OBJ_NUMANODE);
	fp->packages = count(t, HWLOC_OBJ_PACKAGE);
	fp->l1d = cache_size(t, HWLOC_OBJ_L1CACHE);
	fp->l2 = cache_size(t, HWLOC_OBJ_L2CACHE);
	fp->l3 = cache_size(t, HWLOC_OBJ_L3CACHE);
	fp->l3_count = count(t, HWLOC_OBJ_L3CACHE);
	return 0;
}

/* --- fingerprint JSON, diff, key --------------------------------------- */

json_t *machine_fp_json(const struct machine_fp *fp)
{
	json_t *o = json_object();
	char names[160];

	if (!o)
		return NULL;
	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct fp_field *f = &fp_fields[i];
		json_t *v;

		if (f->kind == F_STR)
			v = json_string(fld_ptr(fp, f));
		else
			v = json_integer((json_int_t)fld_get(fp, f));
		if (json_object_set_new(o, f->name, v))
			goto free_obj;
	}
	/* for people reading the file; machine_fp_from_json ignores it */
	cpu_features_str(fp->features, names, sizeof names);
	if (json_object_set_new(o, "feature_names", json_string(names)))
		goto free_obj;
	return o;

free_obj:
	json_decref(o);
	return NULL;
}

int machine_fp_from_json(const json_t *j, struct machine_fp *fp, char *err,
			 size_t errlen)
{
	if (!json_is_object(j)) {
		snprintf(err, errlen, "machine fingerprint: not a JSON object");
		return -1;
	}
	memset(fp, 0, sizeof *fp);
	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct fp_field *f = &fp_fields[i];
		const json_t *v = json_object_get(j, f->name);

		if (f->kind == F_STR) {
			const char *s = json_string_value(v);

			if (!s) {
				snprintf(err, errlen, "machine fingerprint: \"%s\" missing or not a string",
					 f->name);
				return -1;
			}
			if (strlen(s) >= f->size) {
				snprintf(err, errlen, "machine fingerprint: \"%s\" longer than %zu characters",
					 f->name, f->size - 1);
				return -1;
			}
			strcpy((char *)fp + f->off, s);
			continue;
		}
		if (!json_is_integer(v)) {
			snprintf(err, errlen, "machine fingerprint: \"%s\" missing or not an integer",
				 f->name);
			return -1;
		}
		json_int_t x = json_integer_value(v);
		if (x < 0 || (unsigned long long)x > fld_max(f)) {
			snprintf(err, errlen, "machine fingerprint: \"%s\" = %lld out of range",
				 f->name, (long long)x);
			return -1;
		}
		fld_set(fp, f, (unsigned long long)x);
	}
	return 0;
}

const char *machine_fp_diff(const struct machine_fp *a,
			    const struct machine_fp *b)
{
	static _Thread_local char msg[512];

	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct fp_field *f = &fp_fields[i];
		unsigned long long x, y;

		if (f->kind == F_STR) {
			const char *s = fld_ptr(a, f), *t = fld_ptr(b, f);

			if (strcmp(s, t)) {
				snprintf(msg, sizeof msg, "%s \"%s\" != \"%s\"",
					 f->label, s, t);
				return msg;
			}
			continue;
		}
		x = fld_get(a, f);
		y = fld_get(b, f);
		if (x == y)
			continue;
		if (f->kind == F_FEAT) {
			char fa[160], fb[160];

			cpu_features_str((uint32_t)x, fa, sizeof fa);
			cpu_features_str((uint32_t)y, fb, sizeof fb);
			snprintf(msg, sizeof msg, "%s 0x%llx (%s) != 0x%llx (%s)",
				 f->label, x, fa, y, fb);
		} else if (f->kind == F_HEX) {
			snprintf(msg, sizeof msg, "%s 0x%llx != 0x%llx", f->label, x, y);
		} else {
			snprintf(msg, sizeof msg, "%s %llu != %llu", f->label, x, y);
		}
		return msg;
	}
	return NULL;
}

void machine_fp_key(const struct machine_fp *fp, char *buf, size_t cap)
{
	struct cache_strs c = cache_strs(fp);
	char feat[160] = "", *p;
	size_t used = 0;

	if (!cap)
		return;
	for (int i = 0; i < CPU_N_FEATURES; i++) {
		if (!(fp->features & (1u << i)))
			continue;
		for (const char *s = cpu_feature_name(1u << i); *s && used + 1 < sizeof feat; s++)
			if (isalnum((unsigned char)*s))
				feat[used++] = *s;
		feat[used] = '\0';
	}
	snprintf(buf, cap, "%s-%02x-%02x-%02x-%dc%dt%dn%dp-%s-%s-%sx%d-%s-%08x",
		 fp->vendor, fp->family, fp->model, fp->stepping, fp->cores,
		 fp->pus, fp->numa_nodes, fp->packages, c.l1d, c.l2, c.l3,
		 fp->l3_count, used ? feat : "none", fnv1a32_str(fp->brand));
	for (p = buf; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			*p = '_';
}

/* --- environment record ------------------------------------------------ */

/* "2 cores" / "1 core" */
static int plural(char *buf, size_t cap, int n, const char *what)
{
	return snprintf(buf, cap, "%d %s%s, ", n, what, n == 1 ? "" : "s");
}

static void hwloc_summary(const struct machine_fp *m, char *buf, size_t cap)
{
	struct cache_strs c = cache_strs(m);
	size_t used = 0;
	const struct { int n; const char *what; } parts[] = {
		{ m->packages, "package" }, { m->numa_nodes, "NUMA node" },
		{ m->cores, "core" }, { m->pus, "PU" },
	};

	for (size_t i = 0; i < sizeof parts / sizeof parts[0] && used < cap; i++) {
		int n = plural(buf + used, cap - used, parts[i].n, parts[i].what);
		used += n > 0 ? (size_t)n : 0;
	}
	if (used >= cap)
		return;
	if (m->l3_count > 1)
		snprintf(buf + used, cap - used, "L1d %s, L2 %s, L3 %dx%s", c.l1d,
			 c.l2, m->l3_count, c.l3);
	else
		snprintf(buf + used, cap - used, "L1d %s, L2 %s, L3 %s", c.l1d,
			 c.l2, c.l3);
}

/* First line of a small text file, trailing blanks cut; 0 or -1. */
static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	if (!fgets(buf, (int)cap, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strlen(buf);
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return n ? 0 : -1;
}

int env_collect(struct env_info *e, char *err, size_t errlen)
{
	const struct cpu_info *ci = cpu_get();
	struct utsname u;

	memset(e, 0, sizeof *e);
	if (machine_fp_get(&e->m, err, errlen))
		return -1;
	snprintf(e->git_rev, sizeof e->git_rev, "%s", Q8_GIT_REV);
	e->git_dirty = Q8_GIT_DIRTY;
	snprintf(e->compiler, sizeof e->compiler, "%s", Q8_COMPILER);
	snprintf(e->cflags, sizeof e->cflags, "%s", Q8_CFLAGS);
	if (uname(&u) == 0)
		snprintf(e->kernel, sizeof e->kernel, "%.40s %.80s", u.release, u.version);
	else
		snprintf(e->kernel, sizeof e->kernel, "unknown");
	if (read_line(GOVERNOR_PATH, e->governor, sizeof e->governor))
		snprintf(e->governor, sizeof e->governor, "unreadable");
	e->online_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	hwloc_summary(&e->m, e->hwloc_summary, sizeof e->hwloc_summary);
	e->smt = e->m.pus > e->m.cores;
	e->active_features = ci->features;
	snprintf(e->cpu_mask, sizeof e->cpu_mask, "%s", ci->mask_name ? ci->mask_name : "");
	return 0;
}

json_t *env_json(const struct env_info *e)
{
	char active[160];

	cpu_features_str(e->active_features, active, sizeof active);
	/* "o" steals the fingerprint, also when packing fails */
	return json_pack("{s:o?, s:s, s:b, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:s, s:s}",
			 "machine", machine_fp_json(&e->m),
			 "git_rev", e->git_rev,
			 "git_dirty", e->git_dirty,
			 "compiler", e->compiler,
			 "cflags", e->cflags,
			 "kernel", e->kernel,
			 "governor", e->governor,
			 "online_cpus", e->online_cpus,
			 "hwloc_summary", e->hwloc_summary,
			 "smt", e->smt,
			 "active_features", active,
			 "cpu_mask", e->cpu_mask);
}

/* --- pin plan ---------------------------------------------------------- */

int env_pin_plan(int n_threads, int *cpus, int cap, char *err, size_t errlen)
{
	hwloc_topology_t t;
	hwloc_bitmap_t set;
	hwloc_obj_type_t unit = HWLOC_OBJ_CORE;
	int n = 0, want, units;

	if (n_threads < 1 || cap < 1) {
		snprintf(err, errlen, "env_pin_plan: n_threads %d, cap %d: both must be >= 1",
			 n_threads, cap);
		return -1;
	}
	want = n_threads < cap ? n_threads : cap;
	if (topo_load(&t, err, errlen))
		return -1;
	set = hwloc_bitmap_alloc();
	if (!set) {
		snprintf(err, errlen, "env_pin_plan: out of memory");
		return -1;
	}
	units = count(t, HWLOC_OBJ_CORE);
	if (!units) {		/* no core level reported: each PU its own */
		unit = HWLOC_OBJ_PU;
		units = count(t, HWLOC_OBJ_PU);
	}
	/* round r takes the r-th allowed PU of every core, in core order */
	for (int r = 0, added = 1; n < want && added; r++) {
		added = 0;
		for (int c = 0; c < units && n < want; c++) {
			hwloc_obj_t core = hwloc_get_obj_by_type(t, unit, (unsigned)c);
			hwloc_obj_t pu;

			if (!core)
				continue;
			hwloc_bitmap_and(set, core->cpuset,
					 hwloc_topology_get_allowed_cpuset(t));
			pu = hwloc_get_obj_inside_cpuset_by_type(t, set, HWLOC_OBJ_PU,
								 (unsigned)r);
			if (!pu)
				continue;
			cpus[n++] = (int)pu->os_index;
			added = 1;
		}
	}
	hwloc_bitmap_free(set);
	if (!n) {
		snprintf(err, errlen, "env_pin_plan: hwloc reports no allowed PU");
		return -1;
	}
	return n;
}
