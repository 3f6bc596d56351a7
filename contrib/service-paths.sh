#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Writes a contrib/ service sample with an install's paths in place of
# the default prefix's (/usr/local), for `make install`:
#
#   service-paths.sh SBINDIR CONFDIR < SAMPLE > INSTALLED
#
# SBINDIR holds mttd, CONFDIR mttd.conf.  A prefix may hold characters
# that sed's replacement and systemd's command line read as their own
# (`&`, `|`, `\`, blanks, quotes, `%`, `$`), so each path is escaped for
# the place it goes: on the unit's ExecStart= line it is quoted as systemd
# unquotes it, in comments it is written as it is.  Refused, because no
# unit could run them: a control character (a tab, a line break) in
# either path, and a quote or a backslash in mttd's (systemd runs no
# program whose path holds one).

set -eu

if [ $# -ne 2 ]; then
	echo "usage: service-paths.sh SBINDIR CONFDIR < SAMPLE > INSTALLED" >&2
	exit 2
fi
sbindir=$1
confdir=$2
case "$sbindir$confdir" in
*[[:cntrl:]]*)
	echo "service-paths.sh: an install path holds a control character" \
	    "(a tab, a line break...)" >&2
	exit 1
	;;
esac
case "$sbindir" in
*[\"\'\\]*)
	printf 'service-paths.sh: %s: %s/mttd (choose another --sbindir)\n' \
	    "systemd runs no program whose path holds a quote or a backslash" \
	    "$sbindir" >&2
	exit 1
	;;
esac

# s as a replacement in a sed s|...|...| command.
sed_text() {
	printf '%s\n' "$1" | sed -e 's/[\\&|]/\\&/g'
}

# s as a systemd command line's word: as it is when nothing in it is
# special there, else double-quoted with `\` and `"` escaped and `%`
# (specifiers) doubled.  An argument's `$` (variables) is doubled too;
# the program's own path is not expanded, so pass "program" to keep it.
unit_word() {
	word=$1
	case $word in
	*[!A-Za-z0-9/._+,:@=-]*) ;;
	*)
		printf '%s\n' "$word"
		return
		;;
	esac
	word=$(printf '%s\n' "$word" | sed -e 's/[\\"]/\\&/g' -e 's/%/%%/g')
	if [ "${2-}" != program ]; then
		word=$(printf '%s\n' "$word" | sed -e 's/\$/$$/g')
	fi
	printf '"%s"\n' "$word"
}

exec_mttd=$(sed_text "$(unit_word "$sbindir/mttd" program)")
exec_conf=$(sed_text "$(unit_word "$confdir/mttd.conf")")
plain_sbin=$(sed_text "$sbindir/mttd")
plain_conf=$(sed_text "$confdir/")

sed -e "s|^ExecStart=/usr/local/sbin/mttd -c /usr/local/etc/mttd/mttd.conf |ExecStart=$exec_mttd -c $exec_conf |" \
    -e "s|/usr/local/sbin/mttd|$plain_sbin|g" \
    -e "s|/usr/local/etc/mttd/|$plain_conf|g"
