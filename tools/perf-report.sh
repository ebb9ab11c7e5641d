#!/usr/bin/env bash
# perf-report.sh - `make perf-report`: builds BASE (and HEAD, when it is a
# revision) in git worktrees under build/perf/ with their own Makefiles,
# then runs ./perfreport on the two builds.  See docs/perf-report.md.
#
# Environment (the Makefile passes its variables): BASE (default HEAD~1),
# HEAD (default: this working tree), BASE_ENV, HEAD_ENV, PERF_ROUNDS,
# PERF_BUDGET, PERF_FAIL_PCT (empty: never fail), PERF_MODEL, PERF_ARGS
# (more perfreport flags).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

base=${BASE:-HEAD~1}
head=${HEAD:-}
say() { printf 'perf-report: %s\n' "$*" >&2; }

# Writes a one-paragraph report saying why nothing was compared; exit 0.
nothing() {
	mkdir -p results
	printf '# Performance report\n\nNothing to compare: %s\n' "$1" > results/perf-report.md
	say "nothing to compare: $1"
	exit 0
}

# build REV: a worktree of REV under build/perf/<sha>, built with its own
# Makefile; prints the folder.
build() {
	local sha dir
	sha=$(git rev-parse --verify -q "$1^{commit}") ||
		{ say "'$1' is not a revision of this repository"; exit 1; }
	dir=build/perf/${sha:0:12}
	if [ ! -x "$dir/bench" ] || [ ! -x "$dir/infer" ]; then
		git worktree prune
		[ -d "$dir" ] || git worktree add --detach -q "$dir" "$sha"
		say "building $1 (${sha:0:12}) in $dir"
		if ! make -C "$dir" -j2 tools > "$dir.build.log" 2>&1; then
			tail -5 "$dir.build.log" >&2
			nothing "$1 (${sha:0:12}) does not build here (log: $dir.build.log)"
		fi
	fi
	echo "$dir"
}

base_dir=$(build "$base")
base_name="$base ($(git rev-parse --short=12 "$base"))"
if [ -n "$head" ]; then
	head_dir=$(build "$head")
	head_name="$head ($(git rev-parse --short=12 "$head"))"
else
	head_dir=.
	head_name="working tree ($(git describe --always --dirty --abbrev=12))"
fi

# a ./bench this driver can use: rows and profile as JSON, unrecorded
help=$("$base_dir/bench" --help 2>&1 || true)
for flag in --profile --budget --no-record --reps json; do
	case $help in *"$flag"*) ;; *)
		nothing "BASE $base_name predates a ./bench that perf-report can drive (its --help lacks '$flag')" ;;
	esac
done

model=${PERF_MODEL:-models/default-gemma-q8_0.gguf}
[ -f "$model" ] || { say "$model is missing (make model)"; exit 1; }

# the callgrind counts use a small model of this tree's ./mkmodel
count_args=(--count-model "")
if command -v valgrind > /dev/null && command -v callgrind_annotate > /dev/null; then
	cm=build/perf/count-model.gguf
	[ -f "$cm" ] || ./mkmodel -o "$cm" --layers 2 --embd 256 --heads 4 \
		--kv-heads 2 --head-dim 64 --ff 512 2> /dev/null
	count_args=(--count-model "$cm")
else
	say "valgrind is not installed: no instruction counts (make deps installs it)"
fi

fail_args=()
[ -n "${PERF_FAIL_PCT:-}" ] && fail_args=(--fail-pct "$PERF_FAIL_PCT")
# shellcheck disable=SC2086
exec ./perfreport --base "$base_dir" --head "$head_dir" \
	--base-name "$base_name" --head-name "$head_name" \
	--base-env "${BASE_ENV:-}" --head-env "${HEAD_ENV:-}" \
	--model "$model" --rounds "${PERF_ROUNDS:-6}" --budget "${PERF_BUDGET:-1}" \
	"${count_args[@]}" "${fail_args[@]}" ${PERF_ARGS:-}
