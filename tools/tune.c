/* tune - the tuner's front end.  This build has the variant listing
 * (--list); the in-situ search arrives with the tuning issue.  Only parses
 * flags and prints: the data comes from the registry (kernels/). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "cpu.h"
#include "kernels.h"

static const char usage[] =
"usage: tune --list [--json]\n"
"  --list   every op and variant: CPU needs, usable here (or why not),\n"
"           kind, declared error bound, weight layout\n";

static const char *kind_name(enum variant_kind k)
{
	return k == KIND_REFERENCE ? "reference" :
	       k == KIND_EXACT ? "exact" : "approximate";
}

static json_t *cpu_json(const struct cpu_info *ci)
{
	char f[256], hw[256];

	cpu_features_str(ci->features, f, sizeof f);
	cpu_features_str(ci->hw, hw, sizeof hw);
	return json_pack("{s:s,s:s,s:i,s:i,s:i,s:s,s:s,s:s?}",
			 "vendor", ci->vendor, "brand", ci->brand,
			 "family", ci->family, "model", ci->model,
			 "stepping", ci->stepping, "features", f,
			 "hw_features", hw, "mask", ci->mask_name);
}

static int list(int as_json)
{
	const struct cpu_info *ci = cpu_get();
	json_t *ops = json_array();
	char needs[256];

	if (!as_json) {
		cpu_features_str(ci->features, needs, sizeof needs);
		printf("CPU: %s (%s family %#x model %#x); features: %s%s%s\n\n",
		       ci->brand, ci->vendor, ci->family, ci->model, needs,
		       ci->mask_name ? "; Q8TUNE_CPU_MASK=" : "",
		       ci->mask_name ? ci->mask_name : "");
		printf("%-12s %-20s %-10s %-12s %-9s %s\n", "op", "variant",
		       "usable", "kind", "bound", "needs / layout / why not");
	}
	for (int op = 0; op < OP_COUNT; op++) {
		json_t *vs = json_array();
		for (const struct variant *v = kernel_ops[op].variants; v->name; v++) {
			const char *why = variant_unusable(v);
			cpu_features_str(v->needs, needs, sizeof needs);
			if (as_json) {
				json_t *e = json_pack("{s:s,s:s,s:b,s:s,s:f,s:b}",
					"name", v->name, "needs", needs,
					"usable", why == NULL, "kind", kind_name(v->kind),
					"err_bound", v->err_bound, "fits", v->fits != NULL);
				if (why)
					json_object_set_new(e, "why_not", json_string(why));
				if (v->prep)
					json_object_set_new(e, "layout", json_pack("{s:s,s:i}",
						"name", v->prep->layout,
						"row_align", v->prep->row_align));
				json_array_append_new(vs, e);
				continue;
			}
			char bound[16] = "-";
			if (v->kind == KIND_APPROX)
				snprintf(bound, sizeof bound, "%.2g", v->err_bound);
			printf("%-12s %-20s %-10s %-12s %-9s %s%s%s%s%s\n",
			       kernel_ops[op].name, v->name, why ? "no" : "yes",
			       kind_name(v->kind), bound, *needs ? needs : "(any x86-64)",
			       v->prep ? "; layout " : "", v->prep ? v->prep->layout : "",
			       why ? "; " : "", why ? why : "");
		}
		if (as_json)
			json_array_append_new(ops, json_pack("{s:s,s:o}", "op",
				kernel_ops[op].name, "variants", vs));
		else
			json_decref(vs);
	}
	if (as_json) {
		json_t *root = json_pack("{s:o,s:o}", "cpu", cpu_json(ci), "ops", ops);
		json_dumpf(root, stdout, JSON_INDENT(1));
		putchar('\n');
		json_decref(root);
	} else {
		json_decref(ops);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int do_list = 0, as_json = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			do_list = 1;
		} else if (!strcmp(argv[i], "--json")) {
			as_json = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "tune: unknown argument '%s' (see --help)\n",
				argv[i]);
			return 1;
		}
	}
	if (!do_list) {
		fprintf(stderr, "tune: this build only lists variants (--list); "
			"the in-situ search is not built yet\n");
		return 1;
	}
	return list(as_json);
}
