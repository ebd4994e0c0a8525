#!/bin/bash
# bench-blocklist.sh - how long `mxlimit blocklist load` takes for 100,000
# prefixes (issue 14: "under a second"), as an admin runs it: the whole
# command, process start, reading and checking the file, building the new
# trie and swapping it in.  Rows (median of RUNS, wall clock):
#   new       100,000 prefixes (IPv4 /24s and /32s, IPv6 /64s, DROP format
#             with comments) as a new set, nothing else loaded
#   replace   the same set again (the old trie is dropped, not read)
#   beside    a second 100,000-prefix set beside the first (the first is
#             read back from the kernel and merged into the new trie)
#   remove    removing the second set (the first is read back, rebuilt)
#   new, one by one / beside, one by one: the same without batch map
#             operations (MXLIMIT_DISABLE=batch: what a kernel refusing them
#             for LPM tries gets)
# Then $BUILD/bench_blocklist (tests/bench/bench_blocklist.c): what the
# check costs a SYN in the XDP program, with no set and with 100,000
# prefixes loaded.
# Runs in a network namespace of its own (mxlimit attached to a veth there,
# a pin dir and a set directory of its own), removed on exit.  Timing is
# printed, never a failure; a command that fails is (exit 1).
#   BUILD=build scripts/bench-blocklist.sh
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MXLIMIT=$ROOT/$BUILD/mxlimit
RUNS=${RUNS:-5}
ID=$$
NS=mxbl-$ID
PIN=/sys/fs/bpf/mxlimit-test-bench-$ID
TMP=$(mktemp -d /tmp/mxlimit-blbench-XXXXXX)
export MXLIMIT_BLOCKLIST_DIR=$TMP/sets

if [ "$(id -u)" != 0 ]; then echo "bench-blocklist: needs root, skipped"; exit 0; fi
[ -x "$MXLIMIT" ] || { echo "bench-blocklist: $MXLIMIT not built" >&2; exit 1; }

cleanup() {
	nsenter --net=/run/netns/$NS "$MXLIMIT" --pin-dir "$PIN" unload --all >/dev/null 2>&1
	ip netns del "$NS" 2>/dev/null
	rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT
mx() { nsenter --net=/run/netns/$NS "$MXLIMIT" --pin-dir "$PIN" "$@"; }

ip netns add "$NS" || exit 1
ip -n "$NS" link add blb0 type veth peer name blb1 || exit 1
ip -n "$NS" link set blb0 up && ip -n "$NS" link set blb1 up
printf '[main]\nports = 25\n[concurrency]\nenabled = true\nmax = 10\n' >"$TMP/p.ini"
mx load -i blb0 -c "$TMP/p.ini" --state "$TMP/state.gz" >/dev/null 2>&1 || {
	echo "bench-blocklist: mxlimit load failed" >&2; exit 1; }

# LIST SEED: 100,000 prefixes: 60% IPv4 /24, 20% IPv4 /32, 20% IPv6 /64
# (documentation and benchmark ranges are too small for 100k distinct
# prefixes; nothing is routed: the lab has no route anywhere)
mklist() {
	awk -v seed="$2" 'BEGIN {
		print "; bench list, DROP format"
		for (i = 0; i < 100000; i++) {
			k = i + seed * 100000
			if (i % 5 < 3) printf "%d.%d.%d.0/24 ; SBL%d\n", 10 + int(k / 65536) % 200, int(k / 256) % 256, k % 256, k
			else if (i % 5 == 3) printf "100.%d.%d.%d\n", int(k / 65536) % 64 + 64, int(k / 256) % 256, k % 256
			else printf "2001:db8:%x:%x::/64 ; SBL%d\n", int(k / 65536), k % 65536, k
		}
	}' >"$1"
}
mklist "$TMP/a.txt" 0
mklist "$TMP/b.txt" 1

rc=0
# run NAME PRE CMD...: RUNS times PRE (untimed, a function name or :) then
# CMD; prints the median wall time and the median of the time the command
# reports for its own work
pre_new() { mx blocklist remove a --missing-ok >/dev/null 2>&1; }
pre_beside() { mx blocklist remove b --missing-ok >/dev/null 2>&1; }
pre_remove() { mx blocklist load b "$TMP/b.txt" >/dev/null 2>&1; }
run() {
	local name=$1 pre=$2 i t0 t1 err
	shift 2
	: >"$TMP/times"
	for ((i = 0; i < RUNS; i++)); do
		$pre
		t0=$(date +%s%N)
		if ! err=$("$@" 2>&1); then
			echo "bench-blocklist: $name failed: $err" >&2
			rc=1
			return
		fi
		t1=$(date +%s%N)
		echo "$(((t1 - t0) / 1000)) $(sed -n 's/.* in \([0-9.]*\) s$/\1/p' <<<"$err")" >>"$TMP/times"
	done
	sort -n "$TMP/times" | awk -v n="$name" -v r="$RUNS" '{ w[NR] = $1; s[NR] = $2 }
		END { m = int((NR + 1) / 2)
		      printf "  %-18s %8.3f s   (its own count: %s s; median of %d)\n", n, w[m] / 1e6,
		             s[m] == "" ? "-" : s[m], r }'
}
echo "blocklist load, 100,000 prefixes (wall clock of the whole command):"
run new pre_new mx blocklist load a "$TMP/a.txt"
run replace : mx blocklist load a "$TMP/a.txt"
run beside pre_beside mx blocklist load b "$TMP/b.txt"
run remove pre_remove mx blocklist remove b
mx1() { MXLIMIT_DISABLE=batch mx "$@"; }
run "new, one by one" pre_new mx1 blocklist load a "$TMP/a.txt"
run "beside, one by one" pre_beside mx1 blocklist load b "$TMP/b.txt"
mx blocklist remove b >/dev/null 2>&1
n=$(mx --json blocklist list | python3 -c 'import json,sys; print(sum(b["prefixes"] for b in json.load(sys.stdin)["blocklists"]))')
[ "$n" = 100000 ] || { echo "bench-blocklist: $n prefixes loaded at the end, want 100000" >&2; rc=1; }
echo
if [ -x "$ROOT/$BUILD/bench_blocklist" ]; then
	"$ROOT/$BUILD/bench_blocklist" || rc=1
else
	echo "bench-blocklist: $BUILD/bench_blocklist not built (make $BUILD/bench_blocklist)" >&2
	rc=1
fi
exit $rc
