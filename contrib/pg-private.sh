#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A private PostgreSQL for mttd's quick start and tests: its own data
# folder, listening on 127.0.0.1 and a socket in that folder only, with an
# mttv3 database owned by role mtt and mttd's schema loaded.
#
#   pg-private.sh start DIR PORT [PASSWORD]   create on first use, start
#   pg-private.sh stop DIR                    stop (fine if not running)
#   pg-private.sh status DIR                  exit 0 running, 3 not
#
# DIR/data holds the cluster, DIR/postgres.log its log, and DIR the
# socket.  Role mtt gets PASSWORD (default "mtt"): TCP connections use
# scram-sha-256; the socket is trusted, so DIR is closed to other users.  The schema comes from
# $MTTD_SQL_DIR, else this script's ../sql, else the installed copy.
# The server programs come from $PG_BINDIR, else `pg_config --bindir`,
# else /usr/lib/postgresql/15/bin.  MTTD_PG_FAST=1 turns fsync off, for
# throwaway test databases.
#
# PostgreSQL refuses to run as root: as root, the server programs run as
# user postgres, which then owns DIR.

set -euo pipefail

readonly WAIT_S=30
prog=pg-private.sh
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# `make install` writes the installed data folder here.
installed_sql_dir='@pkgdatadir@/sql'

# Connections must go where the arguments say, not where the caller's
# environment points.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGOPTIONS \
    PGPASSWORD PGPASSFILE

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage() {
	cat <<EOF
usage: $prog start DIR PORT [PASSWORD]
       $prog stop DIR
       $prog status DIR
EOF
}

# The log's last lines, after a failure.
show_log() {
	local log=$1
	if [[ -s $log ]]; then
		echo "$prog: last lines of $log:" >&2
		tail -n 25 "$log" >&2
	fi
}

find_bindir() {
	local dir
	if [[ -n ${PG_BINDIR:-} ]]; then
		echo "$PG_BINDIR"
		return
	fi
	if dir=$(pg_config --bindir 2>/dev/null) && [[ -x $dir/initdb ]]; then
		echo "$dir"
		return
	fi
	echo /usr/lib/postgresql/15/bin
}

find_sql_dir() {
	local dir
	for dir in "${MTTD_SQL_DIR:-}" "$script_dir/../sql" \
	    "$installed_sql_dir"; do
		[[ -n $dir && $dir != *@* ]] || continue
		if [[ -f $dir/schemas-v3.sql && -f $dir/mttd-indexes.sql ]]; then
			(cd "$dir" && pwd)
			return
		fi
		if [[ $dir == "${MTTD_SQL_DIR:-}" ]]; then
			die "MTTD_SQL_DIR=$dir has no schemas-v3.sql and mttd-indexes.sql"
		fi
	done
	die "no sql/schemas-v3.sql found (set MTTD_SQL_DIR)"
}

# Run a server program: as root through user postgres, from /, since the
# caller's folder may be closed to it.
as_pg() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Let user postgres reach DIR: each folder above it must be searchable.
# Only the search (x) right is added, never read or write.
grant_traverse() {
	local dir=$1
	while [[ $dir != / ]]; do
		dir=$(dirname "$dir")
		if ! as_pg test -x "$dir"; then
			if command -v setfacl >/dev/null 2>&1; then
				setfacl -m u:postgres:x "$dir"
			else
				chmod o+x "$dir"
			fi
			echo "$prog: let user postgres search $dir"
		fi
	done
}

# Folder argument: made absolute; it is written into postgresql.conf.
resolve_dir() {
	local dir=$1 create=$2
	if [[ $create == yes ]]; then
		mkdir -p -- "$dir" || die "cannot create $dir"
	fi
	[[ -d $dir ]] || die "no folder $dir"
	dir=$(cd -- "$dir" && pwd -P)
	case $dir in
	*[\'\\$'\n']*) die "folder name must not hold a quote, backslash or newline: $dir" ;;
	esac
	echo "$dir"
}

is_running() {
	local data=$1
	[[ -f $data/postmaster.pid ]] &&
	    as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# The port a running server listens on: line 4 of postmaster.pid.
running_port() {
	sed -n 4p "$1/postmaster.pid" 2>/dev/null || true
}

wait_ready() {
	local port=$1 i
	for ((i = 0; i < WAIT_S * 5; i++)); do
		if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# A cluster this call created and could not finish is removed, so that
# the next start (say on another port) begins afresh.
discard_fresh() {
	local data=$1 fresh=$2
	[[ $fresh == yes ]] || return 0
	as_pg "$bindir/pg_ctl" -D "$data" stop -m immediate >/dev/null 2>&1 || :
	rm -rf -- "$data"
	echo "$prog: removed the unfinished cluster $data" >&2
}

make_cluster() {
	local dir=$1 port=$2 data=$1/data fast=()

	echo "$prog: creating a PostgreSQL cluster in $data"
	if [[ ${MTTD_PG_FAST:-0} == 1 ]]; then
		fast=(--no-sync)
	fi
	if ! as_pg "$bindir/initdb" -D "$data" -U postgres -E UTF8 \
	    --locale=C -A trust --no-instructions "${fast[@]}" \
	    >"$dir/initdb.log" 2>&1; then
		show_log "$dir/initdb.log"
		die "initdb failed"
	fi

	# Loopback and the private socket only; no other host can reach it,
	# and no other local user the trusted socket.
	cat >>"$data/postgresql.conf" <<EOF

# Set by mttd's contrib/pg-private.sh.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
unix_socket_permissions = 0700
EOF
	if [[ ${MTTD_PG_FAST:-0} == 1 ]]; then
		cat >>"$data/postgresql.conf" <<EOF
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	fi
	cat >"$data/pg_hba.conf" <<EOF
# Set by mttd's contrib/pg-private.sh.
# TYPE	DATABASE	USER	ADDRESS		METHOD
local	all		all			trust
host	all		all	127.0.0.1/32	scram-sha-256
EOF
}

# Role mtt, database mttv3, then the schema loaded as mtt so it owns it.
setup_database() {
	local dir=$1 port=$2 password=$3 sql_dir=$4 quoted
	local psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port")

	# A SQL literal; sent on stdin, so the password is not in ps.
	quoted=${password//\'/\'\'}
	"${psql[@]}" -U postgres -d postgres <<EOF || return 1
CREATE ROLE mtt LOGIN PASSWORD '$quoted';
CREATE DATABASE mttv3 OWNER mtt;
EOF
	echo "$prog: loading $sql_dir/schemas-v3.sql, mttd-indexes.sql and" \
	    "mttd-query-indexes.sql"
	"${psql[@]}" -U mtt -d mttv3 -f "$sql_dir/schemas-v3.sql" || return 1
	"${psql[@]}" -U mtt -d mttv3 -f "$sql_dir/mttd-indexes.sql" || return 1
	"${psql[@]}" -U mtt -d mttv3 -f "$sql_dir/mttd-query-indexes.sql" ||
	    return 1
}

cmd_start() {
	local dir port password data log sql_dir fresh=no
	[[ $# -ge 2 && $# -le 3 ]] || { usage >&2; exit 2; }
	port=$2
	password=${3:-mtt}
	if [[ ! $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
		die "bad port: $port"
	fi
	dir=$(resolve_dir "$1" yes)
	data=$dir/data
	log=$dir/postgres.log
	# A socket path holds at most 107 bytes.
	((${#dir} + ${#port} + 11 <= 107)) ||
	    die "folder name too long for a socket path: $dir"
	[[ -x $bindir/initdb && -x $bindir/pg_ctl ]] ||
	    die "no initdb/pg_ctl in $bindir: install postgresql-15 or set PG_BINDIR"

	# The socket is trusted: only its owner (and root) may enter DIR.
	chmod 700 "$dir"
	if [[ $EUID -eq 0 ]]; then
		id -u postgres >/dev/null 2>&1 ||
		    die "as root this needs user postgres (Debian package postgresql-15)"
		chown postgres: "$dir"
		grant_traverse "$dir"
	fi

	if is_running "$data"; then
		echo "$prog: already running in $dir (port $(running_port "$data"))"
		exit 0
	fi
	if [[ ! -d $data ]]; then
		sql_dir=$(find_sql_dir) || exit 1
		make_cluster "$dir" "$port"
		fresh=yes
	elif [[ ! -f $dir/.mttd-ready ]]; then
		die "$data exists but was not set up by $prog (or its setup failed): remove $dir and start again"
	fi

	if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t "$WAIT_S" \
	    -o "-p $port" start >/dev/null; then
		show_log "$log"
		discard_fresh "$data" "$fresh"
		die "PostgreSQL did not start"
	fi
	if ! wait_ready "$port"; then
		show_log "$log"
		discard_fresh "$data" "$fresh"
		die "PostgreSQL does not accept connections on 127.0.0.1:$port after ${WAIT_S}s"
	fi

	if [[ $fresh == yes ]]; then
		if ! setup_database "$dir" "$port" "$password" "$sql_dir"; then
			show_log "$log"
			discard_fresh "$data" "$fresh"
			die "setting up database mttv3 failed"
		fi
		touch "$dir/.mttd-ready"
	fi
	echo "$prog: running: 127.0.0.1 port $port, socket $dir, log $log"
}

cmd_stop() {
	local dir data
	[[ $# -eq 1 ]] || { usage >&2; exit 2; }
	[[ -d $1 ]] || { echo "$prog: no folder $1: nothing to stop"; exit 0; }
	dir=$(resolve_dir "$1" no)
	data=$dir/data
	if ! is_running "$data"; then
		echo "$prog: not running in $dir"
		exit 0
	fi
	if ! as_pg "$bindir/pg_ctl" -D "$data" stop -m fast -w -t 60 >/dev/null; then
		show_log "$dir/postgres.log"
		die "PostgreSQL in $dir did not stop"
	fi
	echo "$prog: stopped PostgreSQL in $dir"
}

cmd_status() {
	local dir data
	[[ $# -eq 1 ]] || { usage >&2; exit 2; }
	[[ -d $1 ]] || { echo "$prog: no folder $1"; exit 3; }
	dir=$(resolve_dir "$1" no)
	data=$dir/data
	if is_running "$data"; then
		echo "$prog: running in $dir: pid $(sed -n 1p "$data/postmaster.pid"), port $(running_port "$data")"
		exit 0
	fi
	echo "$prog: not running in $dir"
	exit 3
}

bindir=$(find_bindir)
command=${1:-}
[[ $# -gt 0 ]] && shift
case $command in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
-h | --help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
