# plots/plots.mk - `make plots`: every plot of docs/plots.md whose data
# exists, as PNG (pngcairo) and SVG, into $(PLOTS_OUT); a plot whose data
# is missing is skipped with one line naming the missing file.
#
# Included by the Makefile (`include plots/plots.mk`); it also works alone
# from the top of the tree, which is how tests/test_plots.c renders the
# sample data:
#   make -f plots/plots.mk plots PLOTS_IN=plots/testdata PLOTS_OUT=/tmp/p
#
#   PLOTS_IN   folder holding the results files (default results)
#   PLOTS_OUT  folder the plots go to (default results/plots)
#   PLOTS      which plots (default: all of them)
#
# Each plot: build/plotdata (plots/plotdata.c, C11 + jansson + base/text.c) checks the
# results files and writes gnuplot input, $(PLOTS_OUT)/<plot>.gpdata;
# then plots/<plot>.gp draws it.  Bad input stops at the converter with
# one line naming the file, line and field (exit 1), so gnuplot never
# sees it; valid input with nothing to show (no --profile run, no sweep)
# is a skip line, like a missing file.

PLOTS_IN  ?= results
PLOTS_OUT ?= results/plots
B         ?= build
GNUPLOT   ?= gnuplot
PLOTS_CC  ?= gcc
PLOTDATA  := $(B)/plotdata
PLOTS_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
PLOTS     ?= roofline profile tune regression scaling microbench

PLOTS_CFLAGS := -std=c11 -O2 -Wall -Wextra $(shell pkg-config --cflags jansson 2>/dev/null)
PLOTS_LIBS   := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson) -lm

.PHONY: plots plots-clean $(addprefix plot-,roofline profile tune regression scaling microbench)

plots: $(addprefix plot-,$(PLOTS))

# Written under a temporary name and renamed: parallel makes (and the
# tests, which run this file in parallel) never see half a binary.
$(PLOTDATA): $(PLOTS_DIR)/plotdata.c $(PLOTS_DIR)/../base/text.c $(PLOTS_DIR)/../base/text.h
	@mkdir -p $(dir $@)
	$(PLOTS_CC) $(PLOTS_CFLAGS) -I$(PLOTS_DIR)/../base -o $@.tmp$$$$ $< \
		$(PLOTS_DIR)/../base/text.c $(PLOTS_LIBS) && mv -f $@.tmp$$$$ $@

# $(call plot_render,PLOT,REQUIRED FILES,PLOTDATA ARGUMENTS): skip when a
# required file is missing or plotdata finds nothing to plot (exit 3);
# fail on bad input (exit 1, plotdata's line says why).
define plot_render
	@for f in $(2); do \
		[ -f "$$f" ] || { echo "plots: skip $(1): $$f missing"; exit 0; }; \
	done; \
	command -v $(GNUPLOT) >/dev/null 2>&1 || { \
		echo "plots: $(GNUPLOT) not found (make deps installs gnuplot-nox)" >&2; exit 1; }; \
	mkdir -p "$(PLOTS_OUT)" || exit 1; \
	rc=0; $(PLOTDATA) $(1) $(3) -o "$(PLOTS_OUT)/$(1).gpdata" || rc=$$?; \
	[ $$rc = 3 ] && exit 0; [ $$rc = 0 ] || exit $$rc; \
	$(GNUPLOT) -e "set loadpath '$(PLOTS_DIR)'" \
		-e "data = '$(PLOTS_OUT)/$(1).gpdata'; out = '$(PLOTS_OUT)/$(1)'" \
		$(PLOTS_DIR)/$(1).gp || exit 1; \
	echo "plots: wrote $(PLOTS_OUT)/$(1).png $(PLOTS_OUT)/$(1).svg"
endef

# 1. roofline: roofs of roofline.json, ops of the newest --profile run
plot-roofline: $(PLOTDATA)
	$(call plot_render,roofline,$(PLOTS_IN)/roofline.json $(PLOTS_IN)/runs.jsonl,$(PLOTS_IN)/roofline.json $(PLOTS_IN)/runs.jsonl)

# 2. per-op profile: newest default and tuned (--config) --profile runs
plot-profile: $(PLOTDATA)
	$(call plot_render,profile,$(PLOTS_IN)/runs.jsonl,$(PLOTS_IN)/runs.jsonl)

# 3. tuning decisions: tune-log.jsonl (best-config.json, when present,
#    names the winners, the machine and the revision)
plot-tune: $(PLOTDATA)
	$(call plot_render,tune,$(PLOTS_IN)/tune-log.jsonl,$(PLOTS_IN)/tune-log.jsonl $(PLOTS_IN)/best-config.json)

# 4. regression report: perf-report.json of `make perf-report`
plot-regression: $(PLOTDATA)
	$(call plot_render,regression,$(PLOTS_IN)/perf-report.json,$(PLOTS_IN)/perf-report.json)

# 5. scaling: rows of runs.jsonl at several --pp and --threads values
plot-scaling: $(PLOTDATA)
	$(call plot_render,scaling,$(PLOTS_IN)/runs.jsonl,$(PLOTS_IN)/runs.jsonl)

# 6. microbench: matmul_q8 of microbench.json (peaks from roofline.json
#    when present)
plot-microbench: $(PLOTDATA)
	$(call plot_render,microbench,$(PLOTS_IN)/microbench.json,$(PLOTS_IN)/microbench.json $(PLOTS_IN)/roofline.json)

plots-clean:
	rm -rf "$(PLOTS_OUT)" $(PLOTDATA)
