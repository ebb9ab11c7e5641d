# q8tune - see README.md.  `make` builds, `make test` runs every test,
# `make deps` installs the Debian packages, `make model` writes the default
# synthetic model.
#
# ISA-specific code lives in files named for their ISA (avx2.c, avxvnni.c,
# avx512*.c) and only those objects get ISA flags (target-specific
# variables below); everything else is built for baseline x86-64, so the
# binaries run on any x86-64 CPU and pick kernels at run time.

CC      ?= gcc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Wpointer-arith -D_GNU_SOURCE -pthread -Ikernels -Imodel -Iinclude
LDLIBS  += -lm -pthread
PKGS     = jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson)
CRIT_LIBS  := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

B := build

LIB_SRC := $(sort $(wildcard kernels/*.c kernels/*/*.c kernels/*/*/*.c model/*.c harness/*.c tuning/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
TOOLS   := infer mkmodel tune
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o)

AVX2_FLAGS   := -mavx2 -mfma -mf16c
VNNI_FLAGS   := $(AVX2_FLAGS) -mavxvnni
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512vnni

.PHONY: all deps test model run clean tools
all: $(TOOLS)

$(B)/%/avx2.o:    EXTRA = $(AVX2_FLAGS)
$(B)/%/avxvnni.o: EXTRA = $(VNNI_FLAGS)
$(B)/%/avx512vnni.o $(B)/%/avx512.o: EXTRA = $(AVX512_FLAGS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EXTRA) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(B)/libq8tune.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(TOOLS): %: $(B)/tools/%.o $(B)/libq8tune.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

tools: $(TOOLS)

# --- tests -----------------------------------------------------------------
# build/unit: every tests/test_*.c in one Criterion binary.
# build/gguf-san: the GGUF reader and its tests under ASan + UBSan.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

$(B)/unit: $(TEST_OBJ) $(B)/libq8tune.a
	$(CC) $(CFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(B)/gguf-san: tests/test_gguf.c model/gguf.c model/gguf_write.c
	@mkdir -p $(B)
	$(CC) $(CFLAGS) -O1 $(SAN) -DQ8_SANITIZED -o $@ $^ $(CRIT_LIBS) $(LDLIBS)

# The suite runs three times: as if on a CPU without AVX (scalar), on an
# AVX2-only CPU, then with every feature this CPU has.
test: $(TOOLS) $(B)/unit $(B)/gguf-san
	ASAN_OPTIONS=detect_leaks=1 $(B)/gguf-san
	Q8TUNE_CPU_MASK=scalar $(B)/unit
	Q8TUNE_CPU_MASK=avx2 $(B)/unit
	$(B)/unit

# --- setup -----------------------------------------------------------------
DEB_PKGS := build-essential pkg-config libcriterion-dev libjansson-dev \
	libpapi-dev papi-tools libhwloc-dev hwloc libbenchmark-dev g++ gnuplot-nox

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "make deps: all Debian packages present"; fi

MODEL := models/default-gemma-q8_0.gguf
model: $(MODEL)
$(MODEL): mkmodel
	@mkdir -p models
	./mkmodel -o $@

# The main job on the embedded default: build, make the synthetic model if
# it is missing, run production inference on it.
run: $(MODEL) infer
	./infer --model $(MODEL) -p "Hello world" -n 32

clean:
	rm -rf $(B) $(TOOLS)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOOLS:%=$(B)/tools/%.d)

# --- microbench (C++, Google Benchmark) --------------------------------------
# `make microbench` builds ./microbench and runs it: every usable variant of
# every op from kernel_ops[], full results to results/microbench.json, one
# console line per benchmark and the matmul_q8 speedup table.  Narrow it with
# MB_FILTER (a --benchmark_filter regex), e.g.
#   make microbench MB_FILTER='matmul_q8/.*/2304x768/.*'
# $(B)/microbench alone builds without running.
MB_CXXFLAGS := -O2 -g -std=c++17 -Wall -Wextra -pthread -Ikernels
MB_FILTER   ?= .
MB_FLAGS    ?= --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
	--benchmark_min_time=0.1 --benchmark_min_warmup_time=0.02
MB_OUT      := results/microbench.json

.PHONY: microbench microbench-clean
$(B)/tools/microbench.o: tools/microbench.cc
	@mkdir -p $(dir $@)
	$(CXX) $(MB_CXXFLAGS) -MMD -MP -c $< -o $@

$(B)/microbench: $(B)/tools/microbench.o $(B)/libq8tune.a
	$(CXX) $(MB_CXXFLAGS) -o $@ $^ -lbenchmark -lpthread -lm

microbench: $(B)/microbench
	cp -f $< $@
	@mkdir -p $(dir $(MB_OUT))
	./microbench --mb_brief '--benchmark_filter=$(MB_FILTER)' $(MB_FLAGS) \
		--benchmark_out=$(MB_OUT) --benchmark_out_format=json
	@echo "microbench: full results in $(MB_OUT)"

microbench-clean:
	rm -f microbench $(MB_OUT)
clean: microbench-clean

-include $(B)/tools/microbench.d
