#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Quick start: build mttd in this tree and run it in the foreground with a
# private PostgreSQL, a configuration and an htpasswd file kept in state/.
#
#   bash contrib/quickstart.sh              build, set up state/, run mttd
#   bash contrib/quickstart.sh --deps-only  only check (as root: install)
#                                           the build dependencies
#
# MTTD_CONF=FILE runs mttd with that configuration instead of state/.
# MTTD_PORT (default 9080) is mttd's port, MTTD_PG_PORT (default 54329)
# the database's.  MTTD_JOBS (default 2) is make's -j.

set -euo pipefail

prog=quickstart.sh
DEPS=(build-essential autoconf automake pkg-config autoconf-archive
    libevent-dev libyajl-dev libpq-dev libcunit1-dev libcrypt-dev
    libaprutil1-dev apache2-utils postgresql-15 postgresql-client-15 curl
    python3)

die() {
	echo "$prog: $*" >&2
	exit 1
}

# As root, install what is missing; otherwise name it and stop.
check_deps() {
	local pkg missing=()
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "$prog: no dpkg-query (not Debian?): not checking packages; configure names what is missing"
		return 0
	fi
	for pkg in "${DEPS[@]}"; do
		if [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" \
		    2>/dev/null) != installed ]]; then
			missing+=("$pkg")
		fi
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	if [[ $EUID -ne 0 ]]; then
		echo "$prog: missing Debian packages: ${missing[*]}" >&2
		echo "$prog: ask an administrator to run: apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "$prog: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update && apt-get install -y "${missing[@]}"; }; then
		die "apt-get could not install ${missing[*]}"
	fi
}

build() {
	echo "$prog: building mttd"
	# A tree configured already: make runs autoreconf and configure again
	# itself when their inputs changed.
	if [[ ! -f Makefile ]]; then
		autoreconf -fi
		./configure
	fi
	make -j"${MTTD_JOBS:-2}"
}

# 32 hex digits: safe in an INI file, a SQL literal and a URL.
new_secret() {
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# state/secrets holds the generated passwords, kept across runs.
load_secrets() {
	local key value
	db_password=
	web_password=
	if [[ ! -f state/secrets ]]; then
		[[ ! -d state/pg/data ]] ||
		    die "state/secrets is gone but state/pg is not: run contrib/pg-private.sh stop state/pg, remove state/ and try again"
		printf 'db_password=%s\nweb_password=%s\n' "$(new_secret)" \
		    "$(new_secret)" >state/secrets
	fi
	while IFS='=' read -r key value; do
		case $key in
		db_password) db_password=$value ;;
		web_password) web_password=$value ;;
		esac
	done <state/secrets
	[[ -n $db_password && -n $web_password ]] ||
	    die "state/secrets is damaged: remove state/ and try again"
}

write_config() {
	cat >state/mttd.conf.new <<EOF
# Written by contrib/quickstart.sh, again on every run: to keep changes,
# copy this file and run with MTTD_CONF=your-copy.
[server]
socket_host = 127.0.0.1
socket_port = $http_port

[logging]
log_level = INFO

[pg_v3]
type = postgres
dbname = mttv3
username = mtt
password = $db_password
server = 127.0.0.1
port = $pg_port

[auth]
htpasswd_file = htpasswd
realm = mtt
EOF
	mv state/mttd.conf.new state/mttd.conf
}

setup_state() {
	local want_port=${MTTD_PG_PORT:-54329}

	# Passwords and the database stay private to this user.
	umask 077
	mkdir -p state
	load_secrets

	bash contrib/pg-private.sh start state/pg "$want_port" "$db_password"
	# Already running from an earlier run, perhaps on another port.
	pg_port=$(sed -n 4p state/pg/data/postmaster.pid)
	[[ -n $pg_port ]] || die "cannot read the port of state/pg"

	if [[ ! -f state/htpasswd ]]; then
		printf '%s\n' "$web_password" |
		    htpasswd -B -c -i state/htpasswd mttuser
	fi
	write_config
}

# The reference's own smoke test, with this server's user and port.
print_howto() {
	local url=http://127.0.0.1:$http_port
	cat <<EOF

mttd starts on $url/ with user mttuser, password $web_password.
From another terminal, submit a test result:

curl -s -H "Content-Type: application/json" -X POST -d '{"data" : [ {"bitness": 0, "endian": "test", "vpath_mode": "test", "platform_hardware": "test", "platform_type": "test", "os_name": "test", "os_version": "test", "compiler_name": "test", "compiler_version": "test", "mpi_name": "test", "mpi_version": "test", "configure_arguments": "test", "start_timestamp": "Mon Jan 1 00:00:00 2000", "duration": "0 Seconds", "result_message": "test", "test_result": 0, "exit_value": 0, "merge_stdout_stderr": 0, "result_stderr": "test"} ], "metadata" : {"client_serial": 12345, "hostname": "test.test.com", "local_username": "test", "mtt_client_version": "4.0a1", "phase": "MPI Install", "platform_name": "sample_platform", "trial": 1}}' $url/submit --user mttuser:$web_password; echo

and read it back (prints 2000-01-01 00:00:00):

psql "dbname=mttv3 host=127.0.0.1 user=mtt password=$db_password port=$pg_port" -c "copy (select start_timestamp from mpi_install where result_stderr like 'test') to stdout"

Ctrl-C stops mttd. The database keeps running; stop it with:
  contrib/pg-private.sh stop state/pg

EOF
}

main() {
	# A relative MTTD_CONF names a file from the caller's folder.
	if [[ -n ${MTTD_CONF:-} ]]; then
		MTTD_CONF=$(readlink -f -- "$MTTD_CONF") ||
		    die "MTTD_CONF: cannot resolve the path"
	fi
	cd "$(dirname "${BASH_SOURCE[0]}")/.."
	check_deps
	[[ ${1:-} == --deps-only ]] && return 0
	[[ $# -eq 0 ]] || die "usage: $prog [--deps-only]"

	if [[ -n ${MTTD_CONF:-} ]]; then
		[[ -f $MTTD_CONF ]] || die "MTTD_CONF=$MTTD_CONF: no such file"
		build
		echo "$prog: running src/mttd -c $MTTD_CONF -f (Ctrl-C stops it)"
		exec src/mttd -c "$MTTD_CONF" -f
	fi

	http_port=${MTTD_PORT:-9080}
	[[ $http_port =~ ^[0-9]+$ ]] || die "bad MTTD_PORT: $http_port"
	build
	setup_state
	print_howto
	exec src/mttd -c state/mttd.conf -f
}

main "$@"
