/* config.h - the best-config file: which variant of each op, how many
 * threads and what pinning to use for the prompt and for decode, with
 * the machine, model and registry it was tuned on (docs/config-format.md).
 *
 * Written by ./tune, read by ./infer and ./bench.  Like FFTW's wisdom but
 * checked: what cannot run (an unknown op or variant, a variant whose CPU
 * features are missing, a malformed file) is a fatal error naming the file
 * and the field path; what may merely be slower (another machine, another
 * model, a registry whose names changed) is a warning (config_check). */
#ifndef Q8TUNE_CONFIG_H
#define Q8TUNE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "env.h"
#include "fingerprint.h"
#include "generate.h"
#include "kernels.h"

#define CONFIG_SCHEMA "q8tune-best-config"
#define CONFIG_SCHEMA_VERSION 1

enum pin_mode { PIN_NONE = 0, PIN_CORES = 1 };

/* Integer tuning parameters an op choice may carry ("params" in the file;
 * the tuner's to define, e.g. a tile size).  No kernel reads them yet:
 * they are checked, kept and written back. */
#define CFG_MAX_PARAMS 4
#define CFG_PARAM_NAME 24

struct cfg_param {
	char name[CFG_PARAM_NAME];
	long long value;
};

struct phase_cfg {
	int threads;		/* >= 1 */
	int pin;		/* enum pin_mode */
	const struct variant *v[OP_COUNT];	/* into kernel_ops; NULL: default */
	struct cfg_param params[OP_COUNT][CFG_MAX_PARAMS];
	int n_params[OP_COUNT];
};

struct best_config {
	char path[256];		/* file it was read from (messages); may be "" */
	char tool[32];		/* tool.name, e.g. "tune" */
	char git_rev[48];	/* tool.git_rev */
	int dirty;		/* tool.dirty */
	char created[32];	/* ISO-8601 UTC, "2026-12-01T07:09:31Z" */
	struct machine_fp machine;
	struct model_fp model;
	char registry_sig[24];	/* registry_signature() when tuned */
	int registry_variants;	/* registry_variant_count() when tuned */
	struct phase_cfg phase[PHASE_COUNT];
	json_t *measurements;	/* owned reference, may be NULL */
};

/* Starts a config for this build and machine: zeroes c, fills the
 * registry signature and count, the machine fingerprint (machine_fp_get),
 * the model fingerprint if m is non-NULL, created = now, tool = "q8tune",
 * and 1 thread, no pinning, default kernels for both phases.  0, or -1
 * with a message (machine fingerprint unavailable). */
int config_init(struct best_config *c, const struct model *m, char *err,
		size_t errlen);

/* Writes c to path atomically: a temp file in the same directory, fsync,
 * rename over path, fsync of the directory.  On any failure the previous
 * file at path is untouched and the temp file removed.  created "" is
 * written as now.  0, or -1 with one line naming path and what failed. */
int config_write(const char *path, const struct best_config *c, char *err,
		 size_t errlen);

/* Reads and validates path into c (config_free it after success; after
 * failure c holds nothing to free).  Fatal, -1 with ONE line "PATH:
 * FIELD.PATH: what": unreadable file or bad JSON (jansson's line and
 * column), wrong schema or schema_version, a missing, unknown or mistyped
 * field, an unknown op or variant, or a variant needing CPU features
 * missing from `features` (pass cpu_get()->features).  Unknown fields
 * under "measurements" are kept (c->measurements). */
int config_read(const char *path, uint32_t features, struct best_config *c,
		char *err, size_t errlen);

void config_free(struct best_config *c);

/* The non-fatal differences between c and where it is used: the machine
 * (here; NULL skips), the model (NULL skips) and the registry signature
 * of this build.  Writes one line per difference, naming the field
 * ("PATH: model fingerprint differs: n_layer 24 != 2"), joined by '\n'
 * into warn (always NUL-terminated when cap > 0); returns how many. */
int config_check(const struct best_config *c, const struct machine_fp *here,
		 const struct model_fp *model, char *warn, size_t cap);

/* The kernel set for phase ph: kernels_default() (first usable variant,
 * then Q8TUNE_<OP> environment overrides), then the config's choices for
 * every op the environment does not override.  0, or -1 with a message
 * (a bad override, or a chosen variant that cannot run on this CPU as
 * masked). */
int config_kernels(const struct best_config *c, enum phase ph,
		   struct kernels *k, char *err, size_t errlen);

/* Fault injection for the write path: atomic_fault_set (base/file.h). */

/* Receives one warning line (no '\n'). */
typedef void (*config_warn_fn)(void *ctx, const char *line);

/* Formats one line and passes it to warn (nothing when warn is NULL). */
void config_warnf(config_warn_fn warn, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A config file made ready for use on model m, for ./infer (through the
 * library API) and for tools that compare configurations on one loaded
 * model (./bench): reads and validates path into c, warns through warn
 * about machine, model and registry differences against m, and fills
 * k[phase].  Returns 1 (c in use: config_free it), 0 (fallback: a bad
 * file under fallback was warned about; k holds the defaults), or -1
 * with a message naming the file and field. */
int config_load(const char *path, int fallback, const struct model *m,
		struct best_config *c, struct kernels k[PHASE_COUNT],
		config_warn_fn warn, void *warn_ctx, char *err, size_t errlen);

#endif
