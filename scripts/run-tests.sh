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
# Default: all of them.  Before any test, a preflight checks the tools and
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
[ ${#groups[@]} -eq 0 ] && groups=(unit bpf fuzz proxy integration lint valgrind asan)
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
		need util-linux mountpoint has mountpoint
		need mount umount has umount
		need bpftool bpftool has bpftool
		need procps sysctl has sysctl
		need nftables nft has nft
		need iputils-ping ping has ping
		need gzip zcat has zcat
		# test_daemon runs the verdict client as another user by this path
		need python3 /usr/bin/python3 test -x /usr/bin/python3
	fi
	if [ "$build" = 1 ]; then
		need build-essential make has make
		need build-essential "gcc with ASan/UBSan runtimes" gcc_san
		need clang clang has clang
		need bpftool bpftool has bpftool
		need pkg-config pkg-config has pkg-config
	fi
	for g in "${groups[@]}"; do
		case $g in
		fuzz) need clang clang has clang
		      need libclang-rt-dev "libFuzzer runtime" libfuzzer ;;
		lint) need cppcheck cppcheck has cppcheck
		      need clang-tidy clang-tidy has clang-tidy ;;
		valgrind) need valgrind valgrind has valgrind ;;
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
		done
		if [ "$g" = bpf ]; then
			for v in "${BPF_VARIANTS[@]}"; do
				t=$BUILD/tests/bpf/${v%% *}
				[ -x "$t" ] && run_one "bpf/${v%% *} [${v#* }]" env "${v#* }" "$t"
			done
		fi ;;
	integration|proxy|fuzz)
		for t in tests/"$g"/test_*.sh; do
			[ -f "$t" ] || continue
			run_one "$g/$(basename "$t" .sh)" bash "$t"
			for v in $(variants "$t"); do
				run_one "$g/$(basename "$t" .sh) [$v]" env "$v" bash "$t"
			done
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
		for n in $ASAN_PROXY; do
			[ -f "tests/proxy/$n.sh" ] && run_one "asan/proxy/$n" bash "tests/proxy/$n.sh"
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
