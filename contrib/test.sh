#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Quick start, second command: check the dependencies as quickstart.sh
# does, build in build/ with warnings as errors, run `make check`, then
# `make distcheck`, then `make check` again in build-asan/ under
# AddressSanitizer and UndefinedBehaviorSanitizer.  Exits non-zero on the
# first failure.
#
# MTTD_JOBS (default 2) is make's -j.  MTTD_SKIP_SANITIZERS=1 skips the
# sanitizer run.  MTTD_FORMAT_STRICT=1 makes a
# layout difference from .clang-format a failure (else it is reported).

set -euo pipefail

prog=test.sh
jobs=${MTTD_JOBS:-2}

die() {
	echo "$prog: $*" >&2
	exit 1
}

# The log of each test that did not pass, then the summary.
show_failures() {
	local trs
	while IFS= read -r trs; do
		if grep -Eq '^:test-result: (FAIL|ERROR|XPASS)' "$trs"; then
			echo "===== ${trs%.trs}.log"
			cat "${trs%.trs}.log" || :
		fi
	done < <(find . -name '*.trs' | sort)
	[[ -f test-suite.log ]] && head -n 20 test-suite.log
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash contrib/quickstart.sh --deps-only

# A build configured in the tree (quickstart.sh's) blocks a build in
# build/; clean it away, quickstart.sh makes it again when run.
if [[ -f config.status ]]; then
	echo "$prog: removing the in-tree build (make distclean)"
	make distclean >/dev/null
fi

echo "$prog: autoreconf"
autoreconf -fi
# A fresh build folder: no logs of an earlier run are shown as new.
rm -rf build
mkdir -p build
cd build
echo "$prog: configure --enable-werror"
../configure --enable-werror
echo "$prog: make"
make -j"$jobs"

echo "$prog: make check"
if ! make -j"$jobs" check; then
	show_failures
	die "make check failed"
fi

# A reinstall keeps an edited mttd.conf and refreshes the sample.
echo "$prog: make install keeps an edited configuration"
dest=$(mktemp -d)
make install DESTDIR="$dest" >/dev/null
conf=$(find "$dest" -name mttd.conf -path '*/mttd/*')
echo "# edited by test.sh" >>"$conf"
make install DESTDIR="$dest" >/dev/null
grep -q '^# edited by test.sh$' "$conf" || die "make install overwrote $conf"
[[ -f $conf.sample ]] || die "make install wrote no $conf.sample"
rm -rf "$dest"

if ! command -v clang-format >/dev/null 2>&1; then
	echo "$prog: no clang-format (Debian package clang-format): layout not checked"
	[[ ${MTTD_FORMAT_STRICT:-0} != 1 ]] || die "MTTD_FORMAT_STRICT=1 needs clang-format"
else
	echo "$prog: make format-check"
	if ! make format-check; then
		if [[ ${MTTD_FORMAT_STRICT:-0} == 1 ]]; then
			die "the C sources differ from .clang-format"
		fi
		echo "$prog: warning: the C sources differ from .clang-format (see above)"
	fi
fi

echo "$prog: make distcheck"
if ! make -j"$jobs" distcheck \
    DISTCHECK_CONFIGURE_FLAGS=--enable-werror; then
	# The unpacked copy's test logs, if it got that far.
	(cd mttd-*/_build/sub 2>/dev/null && show_failures) || :
	die "make distcheck failed"
fi

# The whole suite again with AddressSanitizer (leaks included) and
# UndefinedBehaviorSanitizer: any report stops mttd or a test, and the
# logs are searched for one as well.  MTTD_SKIP_SANITIZERS=1 skips it.
if [[ ${MTTD_SKIP_SANITIZERS:-0} == 1 ]]; then
	echo "$prog: sanitizer run skipped (MTTD_SKIP_SANITIZERS=1)"
else
	echo "$prog: make check with -fsanitize=address,undefined"
	cd ..
	rm -rf build-asan
	mkdir -p build-asan
	cd build-asan
	../configure --enable-asan >/dev/null
	make -j"$jobs" >/dev/null
	# Freed memory waits in a quarantine before reuse (256 MiB by
	# default): a stream frees a result per row, so that alone would pass
	# the memory bounds of the stream tests; 32 MiB still holds a use
	# after free of recent memory.
	export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:quarantine_size_mb=32
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export MTTD_SANITIZED=1
	if ! make -j"$jobs" check; then
		show_failures
		die "make check under the sanitizers failed"
	fi
	if grep -rlE 'runtime error|ERROR: (Address|Leak)Sanitizer' \
	    --include='*.log' . ; then
		die "a sanitizer reported in the logs above"
	fi
fi
echo "$prog: all passed"
