#!/bin/bash
# Run mxlimit's test suite and print "N passed, N failed" last.
#
# Every test program speaks TAP: cmocka binaries (CMOCKA_MESSAGE_OUTPUT=TAP)
# in $BUILD/tests/{unit,bpf}, shell tests tests/{integration,proxy}/test_*.sh
# through tests/lib.sh.  A program that exits non-zero without reporting a
# failure counts as one failure, so a crash is never silent.
#   scripts/run-tests.sh [GROUP...]
# groups: unit bpf fuzz proxy integration   the tests
#         lint       cppcheck + clang-tidy over user/ (scripts/lint.sh)
#         valgrind   the unit tests under valgrind memcheck
#         asan       an ASan+UBSan build ($ASAN_BUILD) running the unit, BPF,
#                    proxy and controller/daemon tests (`make asan`: all of them)
# Default: all of them.
set -u
BUILD=${BUILD:-build}
export BUILD
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(unit bpf fuzz proxy integration lint valgrind asan)
ASAN_BUILD=${ASAN_BUILD:-build/asan}
# the integration tests that drive the controller's and daemon's code paths
ASAN_INTEGRATION=${ASAN_INTEGRATION:-"test_ops test_daemon test_proxy_e2e"}

passed=0 failed=0 skipped=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# What tests make and must remove: network namespaces (lab: mxs-/mxc-,
# demo: mxdemo-) and pin dirs (/sys/fs/bpf/mxlimit-test-*).
leftovers() {
	{ ip netns list 2>/dev/null | awk '{print "netns " $1}' | grep -E ' (mx[sc]-|mxdemo-)'
	  ls -d /sys/fs/bpf/mxlimit-test-* 2>/dev/null | sed 's/^/pins /'; } | sort
}

run_one() { # name, command...
	local name=$1; shift
	local start rc p f s before left
	start=$(date +%s)
	before=$(leftovers)
	timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$log" 2>&1
	rc=$?
	# anything of ours the test made and left behind is a failure (and is
	# removed, so the next test starts clean)
	left=$(comm -13 <(echo "$before") <(leftovers))
	if [ -n "$left" ]; then
		echo "not ok - $name left behind: $(echo $left)" >>"$log"
		while read -r kind what; do
			case $kind in
			netns) ip netns del "$what" 2>/dev/null ;;
			pins) rm -rf "$what" 2>/dev/null ;;
			esac
		done <<<"$left"
	fi
	p=$(grep -cE '^ok ' "$log" | head -1)
	s=$(grep -cE '^ok .*# (SKIP|skip)' "$log" | head -1)
	f=$(grep -cE '^not ok ' "$log" | head -1)
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	printf '%-40s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" \
		$(( $(date +%s) - start ))
	if [ "$f" -ne 0 ]; then
		failures+=("$name")
		sed 's/^/    | /' "$log" | tail -n 80
	elif [ -n "${VERBOSE:-}" ]; then
		sed 's/^/    | /' "$log"
	fi
}

for g in "${groups[@]}"; do
	case $g in
	unit|bpf)
		for t in "$BUILD"/tests/"$g"/test_*; do
			[ -x "$t" ] || continue
			run_one "$g/$(basename "$t")" "$t"
		done ;;
	integration|proxy|fuzz)
		for t in tests/"$g"/test_*.sh; do
			[ -f "$t" ] || continue
			run_one "$g/$(basename "$t" .sh)" bash "$t"
		done ;;
	lint)
		run_one lint/cppcheck+clang-tidy bash -c \
			'scripts/lint.sh && echo "ok - user/ is clean" || { echo "not ok - findings above"; exit 1; }' ;;
	valgrind)
		for t in "$BUILD"/tests/unit/test_*; do
			[ -x "$t" ] || continue
			run_one "valgrind/$(basename "$t")" valgrind -q --error-exitcode=99 \
				--leak-check=full --errors-for-leak-kinds=definite "$t"
		done ;;
	asan)
		echo "asan: building $ASAN_BUILD (ASan + UBSan)"
		if ! make -s BUILD="$ASAN_BUILD" SAN=1 tests-build >"$log" 2>&1; then
			failed=$((failed + 1)); failures+=("asan/build"); tail -n 40 "$log"
			continue
		fi
		saved=$BUILD
		BUILD=$ASAN_BUILD
		for t in "$BUILD"/tests/unit/test_* "$BUILD"/tests/bpf/test_*; do
			[ -x "$t" ] || continue
			run_one "asan/$(basename "$(dirname "$t")")/$(basename "$t")" "$t"
		done
		for t in tests/proxy/test_*.sh; do
			run_one "asan/proxy/$(basename "$t" .sh)" bash "$t"
		done
		for n in $ASAN_INTEGRATION; do
			[ -f "tests/integration/$n.sh" ] && run_one "asan/integration/$n" bash "tests/integration/$n.sh"
		done
		BUILD=$saved ;;
	*) echo "run-tests: unknown group $g" >&2; exit 2 ;;
	esac
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
