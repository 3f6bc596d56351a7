#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Build mttd's libFuzzer targets (tests/fuzz/fuzz_*.c) with clang's
# fuzzer, address and undefined-behaviour sanitizers, and run each for a
# bounded time on a copy of its seed corpus (tests/fuzz/corpus/<target>/),
# so the corpus in the repository is never grown.
#
# Usage: contrib/fuzz.sh [SECONDS]     (default 30 seconds per target)
#
# Prints one line per target (runs, result) and exits non-zero when any
# target crashed, leaked, hit undefined behaviour or timed out; the line
# names the crash artifact, which `build/<target> <artifact>` replays.
#
# Debian 12 packages: clang (clang 14) and libclang-rt-14-dev, which holds
# libclang_rt.fuzzer and the sanitizer runtimes (clang-14 recommends it);
# plus the build's own libyajl-dev, libcrypt-dev, libpq-dev, libevent-dev,
# libaprutil1-dev and pkg-config.  Works as root.  Environment: CC
# (default clang), MTTD_FUZZ_DIR (default ${TMPDIR:-/tmp}/mttd-fuzz): the
# work folder, where build/ holds the targets and run/<target>/ the
# corpus copy, the log and any artifact.
set -euo pipefail

prog=fuzz.sh
die() {
	echo "$prog: $*" >&2
	exit 2
}

seconds=${1:-30}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "usage: $prog [SECONDS]"

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cc=${CC:-clang}
work=${MTTD_FUZZ_DIR:-${TMPDIR:-/tmp}/mttd-fuzz}
command -v "$cc" >/dev/null 2>&1 ||
	die "no $cc (Debian packages clang libclang-rt-14-dev)"
command -v pkg-config >/dev/null 2>&1 || die "no pkg-config"

# The modules each target links; strbuf and log are everyone's.
declare -A modules=(
	[json_doc]="json_doc arena strbuf log"
	[submit]="submit_fields json_doc arena strbuf log"
	[query]="query_spec query_sql query_fields query_value json_doc arena strbuf log"
	[htpasswd]="auth json_doc arena strbuf log"
)
targets=(json_doc submit query htpasswd)

#
# Build.
#

rm -rf "$work/build" "$work/run"
mkdir -p "$work/build/obj" "$work/run"

# A config.h of what the modules test: no NDEBUG, so assert() stays on.
pkgs=(yajl libcrypt libpq libevent)
{
	echo "/* config.h for the fuzz build, written by contrib/fuzz.sh. */"
	echo "#define _GNU_SOURCE 1"
	echo "#define HAVE_CRYPT_H 1"
	echo '#define PACKAGE_VERSION "fuzz"'
	if pkg-config --exists apr-util-1 apr-1; then
		echo "#define HAVE_APR_UTIL 1"
		# auth.c loads them with dlopen() (configure.ac).
		echo '#define APR_SONAME "libapr-1.so.0"'
		echo '#define APRUTIL_SONAME "libaprutil-1.so.0"'
	fi
} >"$work/build/config.h"
if pkg-config --exists apr-util-1 apr-1; then
	pkgs+=(apr-util-1 apr-1)
fi
pkg-config --exists "${pkgs[@]}" ||
	die "pkg-config misses one of: ${pkgs[*]} (libyajl-dev libcrypt-dev libpq-dev libevent-dev libaprutil1-dev)"
read -r -a dep_cflags <<<"$(pkg-config --cflags "${pkgs[@]}")"
read -r -a dep_libs <<<"$(pkg-config --libs "${pkgs[@]}")"

san=(-fsanitize=address -fsanitize=undefined -fno-sanitize-recover=all
	-fno-omit-frame-pointer)
cflags=(-std=c11 -g -O1 -Wall -Wextra -Wno-unused-parameter "${san[@]}"
	-I"$work/build" -I"$src/include" "${dep_cflags[@]}")

# Each module once, instrumented for coverage; then one link per target.
compile() { # <source> <object>
	"$cc" "${cflags[@]}" -fsanitize=fuzzer-no-link -c "$1" -o "$2" ||
		die "cannot compile $1"
}
declare -A built=()
for t in "${targets[@]}"; do
	objs=()
	for m in ${modules[$t]}; do
		if [[ -z ${built[$m]:-} ]]; then
			compile "$src/src/$m.c" "$work/build/obj/$m.o"
			built[$m]=1
		fi
		objs+=("$work/build/obj/$m.o")
	done
	compile "$src/tests/fuzz/fuzz_$t.c" "$work/build/obj/fuzz_$t.o"
	"$cc" "${san[@]}" -fsanitize=fuzzer -g -o "$work/build/fuzz_$t" \
		"$work/build/obj/fuzz_$t.o" "${objs[@]}" "${dep_libs[@]}" ||
		die "cannot link fuzz_$t (is libclang-rt-14-dev installed?)"
done

#
# Run.
#

failed=0
for t in "${targets[@]}"; do
	run="$work/run/$t"
	mkdir -p "$run/corpus" "$run/artifacts"
	cp "$src/tests/fuzz/corpus/$t/"* "$run/corpus/"
	rc=0
	(cd "$run" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1 \
		"$work/build/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$run/artifacts/" "$run/corpus" \
		>"$run/log" 2>&1) || rc=$?

	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log" |
		tail -n 1)
	[[ -n $runs ]] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' \
		"$run/log" | tail -n 1)
	artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' \
		"$run/log" | tail -n 1)
	if ((rc == 0)) && [[ -z $artifact ]]; then
		result=ok
	else
		failed=1
		if grep -q 'ERROR: LeakSanitizer' "$run/log"; then
			result=LEAK
		elif grep -q 'ERROR: libFuzzer: timeout' "$run/log"; then
			result=TIMEOUT
		elif grep -q 'out-of-memory' "$run/log"; then
			result=OOM
		elif grep -q 'broken invariant' "$run/log"; then
			result=INVARIANT
		elif grep -q 'runtime error:' "$run/log"; then
			result=UNDEFINED
		else
			result=CRASH
		fi
		result="$result (exit $rc) artifact=${artifact:-none} log=$run/log"
	fi
	printf 'fuzz_%-9s runs=%-9s %s\n' "$t" "${runs:-?}" "$result"
done
exit $failed
