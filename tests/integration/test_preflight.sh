#!/bin/bash
# The runner's preflight (scripts/run-tests.sh): with a tool missing, the
# run stops before any test, naming the tool and its Debian package, and
# ends "0 passed, N failed" with a non-zero status.  The tool is hidden by
# a PATH of links to everything in the system's bin directories but it.
# suite-lane: pool (no namespace, pin dir or port: beside the labs)
source "$(dirname "$0")/../lib.sh"

TMP=$(mktemp -d /tmp/mxlimit-preflight-XXXXXX)
on_exit "rm -rf '$TMP'"
mkdir "$TMP/bin"
for d in /usr/local/bin /usr/bin /bin /usr/sbin /sbin; do
	for f in "$d"/*; do
		[ -x "$f" ] && [ ! -e "$TMP/bin/${f##*/}" ] && ln -s "$f" "$TMP/bin/${f##*/}"
	done
done
check "valgrind is on this machine to hide" test -L "$TMP/bin/valgrind"
rm -f "$TMP/bin/valgrind" "$TMP/bin/cppcheck"

out=$(cd "$ROOT" && PATH=$TMP/bin BUILD=$BUILD timeout 60 scripts/run-tests.sh valgrind lint 2>&1)
rc=$?
check "the run fails (status $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "it names valgrind and its package" \
	grep -qx 'not ok - preflight: missing valgrind (Debian package valgrind): run `make deps`' <<<"$out"
check "and cppcheck and its package" \
	grep -qx 'not ok - preflight: missing cppcheck (Debian package cppcheck): run `make deps`' <<<"$out"
check_eq "it ends '0 passed, 2 failed'" "$(tail -n 1 <<<"$out")" "0 passed, 2 failed"
check_eq "no test ran" "$(grep -cE '^(valgrind|lint)/' <<<"$out")" 0
[ "$T_FAILED" = 1 ] && sed 's/^/# /' <<<"$out"
exit $T_FAILED
