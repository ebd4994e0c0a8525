#!/bin/bash
# bench.sh - what `make bench` runs (after building $BUILD/bench):
#   1. $BUILD/bench, the datapath micro-benchmark (BPF_PROG_TEST_RUN; see
#      tests/bench/bench.c and docs/BENCHMARKS.md).  Arguments go to it.
#   2. scripts/bench-proxy.sh, bench-tls.sh, bench-policyd.sh, bench-flood.sh and
#      bench-blocklist.sh and bench-gateway.sh when present and executable (skipped
#      with a note otherwise).
# Timing is never a failure; a benchmark that cannot run, or whose path
# checks fail (the datapath bench verifies by its stats that each row ran
# the path it names), makes the exit status 1 after the others have run.
#   BUILD=build scripts/bench.sh [bench options]
set -u
BUILD=${BUILD:-build}
export BUILD
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The datapath bench takes about a minute; the bound only stops a hang.
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600}
rc=0

echo "== datapath micro-benchmark: $BUILD/bench $*"
if [ ! -x "$BUILD/bench" ]; then
	echo "bench: $BUILD/bench is not built (make BUILD=$BUILD $BUILD/bench)" >&2
	rc=1
elif ! timeout --kill-after=10 "$BENCH_TIMEOUT" "$BUILD/bench" "$@"; then
	echo "bench: $BUILD/bench failed" >&2
	rc=1
fi

for name in bench-proxy bench-tls bench-policyd bench-flood bench-blocklist bench-gateway; do
	script=scripts/$name.sh
	echo
	if [ ! -e "$script" ]; then
		echo "== $script: not present, skipped"
		continue
	fi
	if [ ! -x "$script" ]; then
		echo "== $script: not executable, skipped"
		continue
	fi
	echo "== $script"
	if ! "$script"; then
		echo "bench: $script failed" >&2
		rc=1
	fi
done
exit $rc
