# shellcheck shell=bash
# What the three demos (demo.sh, demo-gateway.sh, demo-cluster.sh) share:
# headings, the set-up step, the abusive client, and the verdict at the
# end.  A demo shows what mxlimit did, then checks it: every expectation
# that did not hold is named, and the demo exits 1 ("demo: FAILED"), so
# `make demo` never ends quietly on a lab that did not work.
# Sourced after the demo has set ROOT, BUILD and its cleanup trap.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

demo_failures=()

# demo_expect WHAT COMMAND...: WHAT held if COMMAND succeeds
demo_expect() {
	local what=$1; shift
	if "$@"; then
		printf '  ok      %s\n' "$what"
	else
		printf '  FAILED  %s\n' "$what"
		demo_failures+=("$what")
	fi
}

# demo_setup NAME: root check, `make deps`, the build.  DEMO_PREBUILT=1
# skips both (the suite's test_demo runs the tree the suite built, plain or
# ASan, with the packages its preflight checked).
demo_setup() {
	[ "$(id -u)" = 0 ] || { echo "$1: run as root (it creates network namespaces)" >&2; exit 1; }
	[ "${DEMO_PREBUILT:-0}" = 1 ] && return 0
	say "dependencies and build"
	scripts/deps.sh || exit 1
	make -s BUILD="$BUILD" all || exit 1
}

# demo_lab_failed WHAT: the lab itself could not be built: stop now.
demo_lab_failed() {
	echo "demo: FAILED: $1 (the lab could not be set up; nothing was measured)" >&2
	exit 1
}

# demo_abuser NS OUT ADDR...: in NS, open 200 connections to port 25 of
# the ADDRs in turn, hold what is admitted for 8 s; OUT gets one line
# "held=N refused=N timedout=N".  Runs in the background: $! is its pid.
demo_abuser() {
	local ns=$1 out=$2; shift 2
	nsenter --net="/run/netns/$ns" timeout 60 python3 - "$@" >"$out" 2>&1 <<'PY' &
import socket, sys, time
addrs = sys.argv[1:]
held, refused, timedout = [], 0, 0
for i in range(200):
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.connect((addrs[i % len(addrs)], 25))
        held.append(s)
    except ConnectionRefusedError:
        refused += 1
    except OSError:
        timedout += 1
print("held=%d refused=%d timedout=%d" % (len(held), refused, timedout), flush=True)
time.sleep(8)
PY
}

# demo_stop PID...: end the demo's own background processes (by PID) and
# wait for them, so that nothing outlives the demo (SIGKILL after 5 s)
demo_stop() {
	local p i
	[ $# -gt 0 ] || return 0
	kill "$@" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		for p in "$@"; do kill -0 "$p" 2>/dev/null && break; p=; done
		[ -z "$p" ] && break
		sleep 0.1
	done
	kill -9 "$@" 2>/dev/null
	wait "$@" 2>/dev/null
	return 0
}

# demo_kv FILE KEY: KEY's value in a "k=v k=v" line of FILE (empty if none)
demo_kv() { tr ' ' '\n' <"$1" 2>/dev/null | sed -n "s/^$2=//p" | tail -1; }

# demo_expect_clients GOOD BADOUT WHERE: what both connection demos expect
# of their clients: smtp-source's 50 messages (GOOD = ok), and the abusive
# client (demo_abuser's BADOUT) held to [concurrency] max = 5, the other
# 195 attempts refused by a reset (WHERE: by whom)
demo_expect_clients() {
	demo_expect "the legitimate client delivered its 50 messages" test "$1" = ok
	demo_expect "the abusive client held exactly 5 connections ([concurrency] max = 5)" \
		test "$(demo_kv "$2" held)" = 5
	demo_expect "its other 195 attempts were refused by $3, none left to time out" \
		test "$(demo_kv "$2" refused)" = 195
}

# demo_end: the verdict line and the exit status
demo_end() {
	echo
	if [ ${#demo_failures[@]} -eq 0 ]; then
		echo "demo: ok: every expectation held"
		return 0
	fi
	echo "demo: FAILED: ${#demo_failures[@]} expectation(s) did not hold:"
	printf '  - %s\n' "${demo_failures[@]}"
	return 1
}
