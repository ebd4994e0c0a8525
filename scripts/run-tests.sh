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
#         asan       an ASan+UBSan build ($ASAN_BUILD) running the unit and BPF
#                    tests, the proxy tests in $ASAN_PROXY and the controller/
#                    daemon tests in $ASAN_INTEGRATION (`make asan`: all tests)
# Default: all of them.  Tests that need no namespace lab (proxy, fuzz,
# lint, valgrind, asan's proxy tests) run in a pool beside the lab tests,
# which run one at a time; TEST_JOBS (2) tests run at a time in all, and the
# ASan build overlaps them.
# TEST_LEFTOVER_CHECK=0: no leftover check (another lab runs meanwhile).
# Before any test, a preflight checks the tools and
# modules those groups use and stops at once naming the missing package.
# Some files run twice (a fallback path, forced with MXLIMIT_DISABLE): see
# "suite-variant" below.
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
[ ${#groups[@]} -eq 0 ] && groups=(unit bpf fuzz proxy lint valgrind integration asan)
ASAN_BUILD=${ASAN_BUILD:-build/asan}
# the integration tests that drive the controller's and daemon's code paths
ASAN_INTEGRATION=${ASAN_INTEGRATION:-"test_ops test_daemon test_proxy_e2e test_policyd_e2e"}
# the proxy tests whose code paths differ (the basic session, relay, TLS
# both ways; policyd runs under ASan in test_policyd_e2e and fuzz_policyd):
# the others (timing, PROXY headers, fault injection, spellings) drive the
# same C and run plain only, to keep the suite within its time
ASAN_PROXY=${ASAN_PROXY:-"test_basic test_relay test_tls test_backend_tls"}

# Preflight: every tool and module the selected groups use, checked first.
# A missing one is one failure line naming its Debian package, and the run
# ends at once ("0 passed, N failed") instead of surfacing as a hundred
# unrelated failures or timeouts.  Keep in step with scripts/deps.sh.
# The python modules every test and inline script imports (all standard
# library; tests/**/*.py, python3 -c / heredocs in tests/ and scripts/):
PY_MODULES="ast ctypes hashlib json os random re select selectors signal socket statistics
struct subprocess sys threading time urllib.error urllib.request"
missing=()
need() { # PACKAGE WHAT COMMAND...: WHAT is missing unless COMMAND succeeds
	local pkg=$1 what=$2; shift 2
	"$@" >/dev/null 2>&1 || missing+=("$what (Debian package $pkg)")
}
has() { command -v "$1"; }
# swaks speaks IPv6 only with IO::Socket::INET6, a mere Recommends of it
swaks_ipv6() {
	if has swaks >/dev/null; then
		swaks --support 2>&1 | grep -q 'IPv6 supported'
	else
		perl -MIO::Socket::INET6 -e1
	fi
}
# a trivial libFuzzer target links (the runtime is libclang-rt-dev's)
libfuzzer() {
	echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' |
		"${FUZZ_CC:-clang}" -x c - -fsanitize=fuzzer -o /dev/null
}
# gcc links an ASan + UBSan program (libasan/libubsan come with gcc)
gcc_san() {
	echo 'int main(void) { return 0; }' |
		"${CC:-gcc}" -x c - -fsanitize=address,undefined -o /dev/null
}
preflight() {
	local g py=0 peers=0 lab=0 build=0 m mods
	for g in "${groups[@]}"; do
		case $g in
		proxy) py=1 peers=1 ;;
		integration) py=1 peers=1 lab=1 ;;
		asan) py=1 peers=1 lab=1 build=1 ;;
		esac
	done
	if [ "$py" = 1 ]; then
		if ! has python3 >/dev/null; then
			missing+=("python3 (Debian package python3)")
		elif mods=$(python3 - $PY_MODULES 2>/dev/null <<'PY'
import importlib, sys
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except Exception:
        print(m)
PY
		); then
			for m in $mods; do missing+=("python3 module $m (Debian package python3)"); done
		else
			missing+=("a python3 that runs (Debian package python3)")
		fi
	fi
	if [ "$peers" = 1 ]; then
		need postfix smtp-sink has smtp-sink
		need postfix smtp-source has smtp-source
		# a private Postfix instance (tests/proxy/postfix.sh)
		need postfix postconf test -x /usr/sbin/postconf
		need postfix postcat test -x /usr/sbin/postcat
		need postfix "Postfix's smtpd" test -x /usr/lib/postfix/sbin/smtpd
		need swaks swaks has swaks
		need libio-socket-inet6-perl "swaks over IPv6 (perl IO::Socket::INET6)" swaks_ipv6
		need coreutils timeout has timeout
		# TLS in the proxy (test_tls): swaks --tls/--tlsc, s_client, certificates
		need openssl openssl has openssl
		need libnet-ssleay-perl "swaks TLS (perl Net::SSLeay)" perl -MNet::SSLeay -e 1
		need libio-socket-ssl-perl "swaks TLS (perl IO::Socket::SSL)" perl -MIO::Socket::SSL -e 1
		# test_policyd: a client that is not postfix
		need python3 /usr/bin/python3 test -x /usr/bin/python3
	fi
	if [ "$lab" = 1 ]; then
		need fail2ban fail2ban-server has fail2ban-server
		need tmux tmux has tmux
		need debhelper dh has dh
		need dpkg-dev dpkg-buildpackage has dpkg-buildpackage
		need fakeroot fakeroot has fakeroot
		need lintian lintian has lintian
		need bash-completion "bash-completion's helpers" test -r /usr/share/bash-completion/bash_completion
		need iproute2 ip has ip
		need iproute2 tc has tc
		need iproute2 ss has ss
		need util-linux nsenter has nsenter
		need util-linux unshare has unshare
		need util-linux setpriv has setpriv
		need util-linux prlimit has prlimit
		need util-linux mountpoint has mountpoint
		need mount umount has umount
		need bpftool bpftool has bpftool
		need procps sysctl has sysctl
		need procps pgrep has pgrep
		need nftables nft has nft
		need iputils-ping ping has ping
		need gzip zcat has zcat
		# test_cluster starts its own Redis
		need redis-server redis-server has redis-server
		# test_daemon runs the verdict client as another user by this path
		need python3 /usr/bin/python3 test -x /usr/bin/python3
	fi
	if [ "$build" = 1 ]; then
		need build-essential make has make
		need build-essential "gcc with ASan/UBSan runtimes" gcc_san
		need clang clang has clang
		need bpftool bpftool has bpftool
		need pkg-config pkg-config has pkg-config
		need libhiredis-dev "hiredis headers" test -r /usr/include/hiredis/async.h
	fi
	for g in "${groups[@]}"; do
		case $g in
		fuzz) need clang clang has clang
		      need libclang-rt-dev "libFuzzer runtime" libfuzzer ;;
		lint) need cppcheck cppcheck has cppcheck
		      need clang-tidy clang-tidy has clang-tidy ;;
		valgrind) need valgrind valgrind has valgrind ;;
		unit) need redis-server "redis-server (test_redis_client)" has redis-server ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	# the same tool for two groups is one item
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
	for m in "${missing[@]}"; do echo "not ok - preflight: missing $m: run \`make deps\`"; done
	echo
	echo "0 passed, ${#missing[@]} failed"
	exit 1
}
preflight

# Test files run again with an environment setting, on a fallback path:
#   a shell test:  a line "# suite-variant: NAME=VALUE" in the file
#   a cmocka test: listed here
BPF_VARIANTS=("test_sockstate MXLIMIT_DISABLE=seed_iter")
variants() { sed -n 's/^# suite-variant: //p' "$1"; }

passed=0 failed=0 skipped=0
failures=()
jobdir=$(mktemp -d)
asan_build_pid=
trap '[ -n "$asan_build_pid" ] && kill "$asan_build_pid" 2>/dev/null; rm -rf "$jobdir"' EXIT

# Tests at a time in all (the pool and the serial lane, below).
TEST_JOBS=${TEST_JOBS:-2}
case $TEST_JOBS in ''|*[!0-9]*|0) echo "run-tests: TEST_JOBS must be 1 or more" >&2; exit 2 ;; esac

# What tests make and must remove: network namespaces (lab: mxs-/mxc-,
# demo: mxdemo-) and pin dirs (/sys/fs/bpf/mxlimit-test-*).
# TEST_LEFTOVER_CHECK=0 turns the check (and its clean-up) off, for a
# developer running a group while another lab runs on the same machine.
leftovers() {
	[ "${TEST_LEFTOVER_CHECK:-1}" = 0 ] && return 0
	{ ip netns list 2>/dev/null | awk '{print "netns " $1}' | grep -E ' (mx[sc]-|mxdemo-)'
	  ls -d /sys/fs/bpf/mxlimit-test-* 2>/dev/null | sed 's/^/pins /'; } | sort
}

# leftover_check NAME BEFORE LOG: anything of ours made since BEFORE and
# left behind is a failure of NAME (and is removed, so the next test
# starts clean)
leftover_check() {
	local name=$1 before=$2 log=$3 left kind what
	left=$(comm -13 <(echo "$before") <(leftovers))
	[ -n "$left" ] || return 0
	echo "not ok - $name left behind: $(echo $left)" >>"$log"
	while read -r kind what; do
		case $kind in
		netns) ip netns del "$what" 2>/dev/null ;;
		pins) rm -rf "$what" 2>/dev/null ;;
		esac
	done <<<"$left"
}

# start_job NAME COMMAND...: run it in the background; sets job_id, job_pid.
seq_n=0
start_job() {
	local name=$1; shift
	seq_n=$((seq_n + 1))
	job_id=$seq_n
	echo "$name" >"$jobdir/$job_id.name"
	(
		start=$(date +%s)
		timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$jobdir/$job_id.log" 2>&1 </dev/null
		echo "$? $(( $(date +%s) - start ))" >"$jobdir/$job_id.rc"
	) &
	job_pid=$!
}

# finish_job ID: count its TAP lines and print its summary line.
finish_job() {
	local id=$1 name rc secs p s f log=$jobdir/$1.log
	name=$(cat "$jobdir/$id.name")
	read -r rc secs <"$jobdir/$id.rc" || { rc=125; secs=0; }
	p=$(grep -cE '^ok ' "$log" | head -1)
	s=$(grep -cE '^ok .*# (SKIP|skip)' "$log" | head -1)
	f=$(grep -cE '^not ok ' "$log" | head -1)
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	printf '%-40s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" "$secs"
	if [ "$f" -ne 0 ]; then
		failures+=("$name")
		sed 's/^/    | /' "$log" | tail -n 80
	elif [ -n "${VERBOSE:-}" ]; then
		sed 's/^/    | /' "$log"
	fi
	rm -f "$jobdir/$id".*
}

# Two lanes run side by side.  The serial lane runs one test at a time:
# the unit and BPF tests and the lab tests (integration, asan/integration:
# namespaces, pin dirs, the leftover check).  The pool runs the tests that
# touch no namespace, pin dir or shared port (proxy: loopback, ports the
# kernel picks; fuzz; lint; valgrind; asan/proxy) from a queue, so that
# TEST_JOBS tests run at a time in all (TEST_JOBS=1: one after another): the
# pool is CPU-bound and the labs mostly wait on the network, so the two
# overlap well on two cores.  The ASan build also overlaps, and the ASan
# proxy tests join the queue as soon as it is done.  Summaries print as
# tests end.
declare -A pool=()      # pid -> job id of a running pool test
queue=()                # pool tests not started yet: "%q"-quoted commands
serial_busy=0
asan_queued=0 asan_build_rc=

# queue_add NAME COMMAND...: a pool test, started by pool_pump
queue_add() { queue+=("$(printf '%q ' "$@")"); }

pool_pump() {
	local width=$TEST_JOBS
	[ "$serial_busy" = 1 ] && width=$((TEST_JOBS - 1))
	while [ ${#pool[@]} -lt "$width" ] && [ ${#queue[@]} -gt 0 ]; do
		eval "start_job ${queue[0]}"
		queue=("${queue[@]:1}")
		pool[$job_pid]=$job_id
	done
}

# asan_built RC: the ASan build ended; its proxy tests join the queue
asan_built() {
	asan_build_rc=$1 asan_build_pid=
	if [ "$asan_build_rc" -ne 0 ]; then
		failed=$((failed + 1)); failures+=("asan/build"); tail -n 40 "$jobdir/asan-build.log"
		return
	fi
	[ "$asan_queued" = 1 ] && return
	asan_queued=1
	for n in $ASAN_PROXY; do
		[ -f "tests/proxy/$n.sh" ] && queue_add "asan/proxy/$n" env BUILD="$ASAN_BUILD" bash "tests/proxy/$n.sh"
	done
}

# wait_pid PID: keep the pool going until PID (the serial test or the
# ASan build) ends; returns PID's status.  With no PID: until the pool and
# its queue are empty.
wait_pid() {
	local target=${1:-} pid rc
	while :; do
		pool_pump
		local pids=("${!pool[@]}")
		[ -n "$asan_build_pid" ] && pids+=("$asan_build_pid")
		[ -n "$target" ] && [ "$target" != "$asan_build_pid" ] && pids+=("$target")
		[ ${#pids[@]} -gt 0 ] || return 0
		pid=
		wait -n -p pid "${pids[@]}"
		rc=$?
		[ -n "$pid" ] || continue
		if [ -n "${pool[$pid]:-}" ]; then
			finish_job "${pool[$pid]}"
			unset "pool[$pid]"
		elif [ "$pid" = "$asan_build_pid" ]; then
			asan_built "$rc"
			[ "$pid" = "$target" ] && return "$rc"
		elif [ "$pid" = "$target" ]; then
			return "$rc"
		fi
		[ -z "$target" ] && [ ${#pool[@]} -eq 0 ] && [ ${#queue[@]} -eq 0 ] && [ -z "$asan_build_pid" ] && return 0
	done
}

# run_one NAME COMMAND...: one test in the serial lane, with the leftover
# check.
run_one() {
	local name=$1 before sid spid
	before=$(leftovers)
	serial_busy=1
	start_job "$@"
	sid=$job_id spid=$job_pid
	wait_pid "$spid"
	serial_busy=0
	leftover_check "$name" "$before" "$jobdir/$sid.log"
	finish_job "$sid"
}

# The ASan build (serial make, minutes of one core) overlaps the lab tests,
# which mostly wait on the network.
asan_build_start() {
	[ -z "$asan_build_pid" ] && [ -z "$asan_build_rc" ] || return 0
	make -s BUILD="$ASAN_BUILD" SAN=1 tests-build >"$jobdir/asan-build.log" 2>&1 &
	asan_build_pid=$!
}

# a shell test and its suite variants: to the pool, or run in the serial lane
shell_test() { # pool|serial NAME FILE
	local how=$1 n=$2 t=$3 v
	for v in "" $(variants "$t"); do
		local name=$n; [ -n "$v" ] && name="$n [$v]"
		if [ "$how" = pool ]; then
			queue_add "$name" env ${v:+"$v"} BUILD="$BUILD" bash "$t"
		else
			run_one "$name" env ${v:+"$v"} bash "$t"
		fi
	done
}

[[ " ${groups[*]} " == *" asan "* ]] && asan_build_start
for g in "${groups[@]}"; do
	case $g in
	unit|bpf)
		for t in "$BUILD"/tests/"$g"/test_*; do
			[ -x "$t" ] || continue
			run_one "$g/$(basename "$t")" "$t"
		done
		if [ "$g" = bpf ]; then
			for v in "${BPF_VARIANTS[@]}"; do
				t=$BUILD/tests/bpf/${v%% *}
				[ -x "$t" ] && run_one "bpf/${v%% *} [${v#* }]" env "${v#* }" "$t"
			done
		fi ;;
	integration)
		# an integration test that needs no lab says "# suite-lane: pool"
		for t in tests/integration/test_*.sh; do
			[ -f "$t" ] || continue
			lane=serial
			grep -q '^# suite-lane: pool' "$t" && lane=pool
			shell_test $lane "integration/$(basename "$t" .sh)" "$t"
		done ;;
	proxy|fuzz)
		for t in tests/"$g"/test_*.sh; do
			[ -f "$t" ] && shell_test pool "$g/$(basename "$t" .sh)" "$t"
		done ;;
	lint)
		queue_add lint/cppcheck+clang-tidy bash -c \
			'scripts/lint.sh && echo "ok - user/ is clean" || { echo "not ok - findings above"; exit 1; }' ;;
	valgrind)
		for t in "$BUILD"/tests/unit/test_*; do
			[ -x "$t" ] || continue
			queue_add "valgrind/$(basename "$t")" valgrind -q --error-exitcode=99 \
				--leak-check=full --errors-for-leak-kinds=definite "$t"
		done ;;
	asan)
		if [ -n "$asan_build_pid" ]; then
			echo "asan: waiting for the build of $ASAN_BUILD (ASan + UBSan)"
			serial_busy=1
			wait_pid "$asan_build_pid"
			serial_busy=0
		fi
		[ "$asan_build_rc" = 0 ] || continue
		saved=$BUILD
		BUILD=$ASAN_BUILD
		for t in "$BUILD"/tests/unit/test_* "$BUILD"/tests/bpf/test_*; do
			[ -x "$t" ] || continue
			run_one "asan/$(basename "$(dirname "$t")")/$(basename "$t")" "$t"
		done
		for n in $ASAN_INTEGRATION; do
			[ -f "tests/integration/$n.sh" ] && run_one "asan/integration/$n" bash "tests/integration/$n.sh"
		done
		BUILD=$saved ;;
	*) echo "run-tests: unknown group $g" >&2; exit 2 ;;
	esac
done
wait_pid

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
