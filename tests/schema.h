/* schema.h - a small JSON Schema validator for the tests: the subset of
 * draft 2020-12 that docs/results.schema.json uses.
 *
 * Assertions: type (a name or an array of names; "integer" also accepts
 * a real with no fraction, as the draft says), enum, const, minimum,
 * maximum, minItems, required, properties, additionalProperties (true,
 * false or a schema), items (one schema for every element), oneOf, and
 * $ref to a JSON pointer into the root ("#/$defs/row").  Annotations
 * ($schema, $id, title, description) are ignored.  Any other keyword is
 * reported as a violation of the schema itself, so a schema that relies
 * on something this file does not check can never pass vacuously.
 *
 * Numbers compare by value in enum and const (1 equals 1.0), as the draft
 * says; jansson's json_equal would not. */
#ifndef Q8TUNE_TESTS_SCHEMA_H
#define Q8TUNE_TESTS_SCHEMA_H

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 64	/* nesting of instances plus $ref hops */

struct schema_ctx {
	const json_t *root;	/* what "#/..." refers to */
	char *path;		/* "$", "$.rows[0].stats", ...: where we are */
	size_t pathcap;
	char *msg;		/* what is wrong at path */
	size_t msgcap;
	int depth;
};

static int schema_node(struct schema_ctx *c, const json_t *s, const json_t *x);

static int schema_fail(struct schema_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, c->msgcap, fmt, ap);
	va_end(ap);
	return -1;
}

/* Appends to the path; returns its length before, for schema_pop. */
static size_t schema_push(struct schema_ctx *c, const char *key, size_t index)
{
	size_t n = strlen(c->path);

	if (key)
		snprintf(c->path + n, c->pathcap - n, ".%s", key);
	else
		snprintf(c->path + n, c->pathcap - n, "[%zu]", index);
	return n;
}

static void schema_pop(struct schema_ctx *c, size_t n)
{
	c->path[n] = '\0';
}

/* A JSON value's type name as the draft spells it. */
static const char *schema_type_of(const json_t *x)
{
	switch (json_typeof(x)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static int schema_is_type(const json_t *x, const char *t)
{
	if (!strcmp(t, "number"))
		return json_is_number(x);
	if (!strcmp(t, "integer"))
		return json_is_integer(x) || (json_is_real(x) &&
			json_real_value(x) == floor(json_real_value(x)));
	return !strcmp(t, schema_type_of(x));
}

/* Equality for enum and const: numbers by value, the rest structurally. */
static int schema_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

/* The subschema a "#/a/b" reference names; NULL if it names none. */
static const json_t *schema_resolve(const json_t *root, const char *ref)
{
	const json_t *at = root;
	char tok[128];

	if (strncmp(ref, "#", 1))
		return NULL;
	ref++;
	while (*ref == '/') {
		size_t n = strcspn(++ref, "/");
		if (n >= sizeof tok)
			return NULL;
		memcpy(tok, ref, n);
		tok[n] = '\0';
		ref += n;
		at = json_object_get(at, tok);
		if (!at)
			return NULL;
	}
	return *ref ? NULL : at;
}

static int schema_known(const char *k)
{
	static const char *const kw[] = {
		"$schema", "$id", "$defs", "title", "description", "$ref",
		"type", "enum", "const", "minimum", "maximum", "minItems",
		"required", "properties", "additionalProperties", "items",
		"oneOf", NULL
	};

	for (int i = 0; kw[i]; i++)
		if (!strcmp(k, kw[i]))
			return 1;
	return 0;
}

static int schema_type(struct schema_ctx *c, const json_t *t, const json_t *x)
{
	size_t i;
	const json_t *e;

	if (json_is_string(t))
		return schema_is_type(x, json_string_value(t)) ? 0 :
			schema_fail(c, "is %s, want %s", schema_type_of(x),
				    json_string_value(t));
	if (!json_is_array(t))
		return schema_fail(c, "schema: type is neither a name nor an array");
	json_array_foreach(t, i, e)
		if (json_is_string(e) && schema_is_type(x, json_string_value(e)))
			return 0;
	return schema_fail(c, "is %s, not one of the types allowed",
			   schema_type_of(x));
}

static int schema_enum(struct schema_ctx *c, const json_t *en, const json_t *x)
{
	size_t i;
	const json_t *e;
	char *got;

	json_array_foreach(en, i, e)
		if (schema_equal(e, x))
			return 0;
	got = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
	schema_fail(c, "%.80s is not in the enum", got ? got : "value");
	free(got);
	return -1;
}

static int schema_object(struct schema_ctx *c, const json_t *s, const json_t *x)
{
	const json_t *req = json_object_get(s, "required");
	const json_t *props = json_object_get(s, "properties");
	const json_t *addl = json_object_get(s, "additionalProperties");
	const char *k;
	const json_t *v, *e;
	size_t i;

	json_array_foreach(req, i, e)
		if (!json_object_get(x, json_string_value(e)))
			return schema_fail(c, "required field '%s' is missing",
					   json_string_value(e));
	json_object_foreach((json_t *)x, k, v) {
		const json_t *sub = json_object_get(props, k);
		size_t n = schema_push(c, k, 0);
		if (!sub && json_is_false(addl))
			return schema_fail(c, "field not allowed here "
					   "(additionalProperties false)");
		if (!sub && addl && !json_is_boolean(addl))
			sub = addl;
		if (sub && schema_node(c, sub, v) < 0)
			return -1;
		schema_pop(c, n);
	}
	return 0;
}

static int schema_array(struct schema_ctx *c, const json_t *s, const json_t *x)
{
	const json_t *mi = json_object_get(s, "minItems");
	const json_t *items = json_object_get(s, "items");
	const json_t *e;
	size_t i;

	if (mi && (json_int_t)json_array_size(x) < json_integer_value(mi))
		return schema_fail(c, "has %zu items, want at least %lld",
				   json_array_size(x),
				   (long long)json_integer_value(mi));
	if (!items)
		return 0;
	json_array_foreach(x, i, e) {
		size_t n = schema_push(c, NULL, i);
		if (schema_node(c, items, e) < 0)
			return -1;
		schema_pop(c, n);
	}
	return 0;
}

/* Exactly one branch must hold.  When none does, the failure reported
 * is the branch's that got deepest into the instance: the branch the
 * value was most likely meant to match. */
static int schema_one_of(struct schema_ctx *c, const json_t *branches,
			 const json_t *x)
{
	char best_path[512] = "", best_msg[256] = "";
	const size_t n = strlen(c->path);
	const json_t *b;
	size_t i;
	int ok = 0;

	json_array_foreach(branches, i, b) {
		if (schema_node(c, b, x) == 0) {
			ok++;
		} else if (strlen(c->path) >= strlen(best_path) || !*best_msg) {
			snprintf(best_path, sizeof best_path, "%s", c->path);
			snprintf(best_msg, sizeof best_msg, "%s", c->msg);
		}
		schema_pop(c, n);
	}
	if (ok == 1)
		return 0;
	if (ok > 1)
		return schema_fail(c, "matches %d oneOf branches, want exactly 1", ok);
	snprintf(c->path, c->pathcap, "%s", best_path);
	return schema_fail(c, "%s (no oneOf branch matches)", best_msg);
}

static int schema_node(struct schema_ctx *c, const json_t *s, const json_t *x)
{
	const json_t *v;
	const char *k;
	int rc = -1;

	if (json_is_true(s))
		return 0;
	if (json_is_false(s))
		return schema_fail(c, "no value is allowed here (schema false)");
	if (!json_is_object(s))
		return schema_fail(c, "schema: a subschema is not an object");
	if (++c->depth > SCHEMA_MAX_DEPTH) {
		schema_fail(c, "schema: nested deeper than %d", SCHEMA_MAX_DEPTH);
		goto out;
	}
	json_object_foreach((json_t *)s, k, v)
		if (!schema_known(k)) {
			schema_fail(c, "schema: keyword '%s' is not supported by "
				    "tests/schema.h", k);
			goto out;
		}
	if ((v = json_object_get(s, "$ref"))) {
		const json_t *to = schema_resolve(c->root, json_string_value(v) ?
						  json_string_value(v) : "");
		if (!to) {
			schema_fail(c, "schema: $ref '%s' names nothing",
				    json_string_value(v));
			goto out;
		}
		if (schema_node(c, to, x) < 0)
			goto out;
	}
	if ((v = json_object_get(s, "type")) && schema_type(c, v, x) < 0)
		goto out;
	if ((v = json_object_get(s, "const")) && !schema_equal(v, x)) {
		schema_fail(c, "is not the constant the schema requires");
		goto out;
	}
	if ((v = json_object_get(s, "enum")) && schema_enum(c, v, x) < 0)
		goto out;
	if (json_is_number(x)) {
		const double d = json_number_value(x);
		const json_t *lo = json_object_get(s, "minimum");
		const json_t *hi = json_object_get(s, "maximum");
		if (lo && d < json_number_value(lo)) {
			schema_fail(c, "%g is below the minimum %g", d,
				    json_number_value(lo));
			goto out;
		}
		if (hi && d > json_number_value(hi)) {
			schema_fail(c, "%g is above the maximum %g", d,
				    json_number_value(hi));
			goto out;
		}
	}
	if (json_is_object(x) && schema_object(c, s, x) < 0)
		goto out;
	if (json_is_array(x) && schema_array(c, s, x) < 0)
		goto out;
	if ((v = json_object_get(s, "oneOf")) && schema_one_of(c, v, x) < 0)
		goto out;
	rc = 0;
out:
	c->depth--;
	return rc;
}

/* Checks x against the subschema s of the schema root (s == root for the
 * whole schema).  Returns 0 if x is valid; else -1 with the location of
 * the first violation in path ("$" is x itself, then ".field" and
 * "[index]", e.g. "$.rows[1].stats.n") and what is wrong in msg. */
static inline int schema_validate_at(const json_t *root, const json_t *s,
				     const json_t *x, char *path,
				     size_t pathcap, char *msg, size_t msgcap)
{
	struct schema_ctx c = { root, path, pathcap, msg, msgcap, 0 };

	snprintf(path, pathcap, "$");
	*msg = '\0';
	return schema_node(&c, s, x);
}

static inline int schema_validate(const json_t *root, const json_t *x,
				  char *path, size_t pathcap, char *msg,
				  size_t msgcap)
{
	return schema_validate_at(root, root, x, path, pathcap, msg, msgcap);
}

#endif
