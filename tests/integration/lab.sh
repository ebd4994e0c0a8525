# tests/integration/lab.sh - a two-namespace lab for integration tests.
# Source after tests/lib.sh.
#
#   lab_setup            server netns $LAB_SRV, client netns $LAB_CLI, a veth
#                        pair between them: server 198.18.0.1/15 fd00:18::1/64,
#                        client 198.18.0.2/15 fd00:18::2/64 (more client
#                        addresses: lab_client_addr ADDR)
#   lab_mx ARGS...       run build/mxlimit in the server netns with the lab's
#                        pin dir (nsenter keeps the host's /sys: pins stay visible)
#   lab_load_or_die NAME ARGS...  the first load; if it fails, one failure
#                        with load's error and the test file ends at once
#   lab_server PORT...   a holding TCP server in the server netns
#   lab_client_start     a line-driven client coprocess in the client netns;
#   lab_open NAME SRC [PORT [DST [TIMEOUT]]]  -> prints ok|timeout|refused
#   lab_close NAME / lab_reset NAME / lab_closeall
#
# Everything it makes (namespaces, pins, processes) is removed on exit,
# also on failure.  Nothing touches the host's interfaces.
LAB_SRV=mxs-$TEST_ID
LAB_CLI=mxc-$TEST_ID
LAB_PIN=/sys/fs/bpf/mxlimit-test-$TEST_ID
LAB_IF_SRV=vs$TEST_ID
LAB_IF_CLI=vc$TEST_ID
LAB_SRV4=198.18.0.1
LAB_CLI4=198.18.0.2
LAB_SRV6=fd00:18::1
LAB_CLI6=fd00:18::2
LAB_PIDS=""
LAB_DIR=$(mktemp -d /tmp/mxlimit-lab-XXXXXX)
LAB_BARE=$ROOT/$BUILD/bpf/bare.bpf.o
HERE_LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

lab_teardown() {
	local p= i
	[ -n "${LAB_CLIENT_PID:-}" ] && kill "$LAB_CLIENT_PID" 2>/dev/null
	for p in ${LAB_PIDS:-}; do kill "$p" 2>/dev/null; done
	# bounded: whatever has not exited after 2 s is killed
	for ((i = 0; i < 40; i++)); do
		for p in ${LAB_PIDS:-}; do kill -0 "$p" 2>/dev/null && break; p=; done
		[ -z "$p" ] && break
		sleep 0.05
	done
	for p in ${LAB_PIDS:-}; do kill -9 "$p" 2>/dev/null; done
	nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" unload --all >/dev/null 2>&1
	ip netns del "$LAB_SRV" 2>/dev/null
	ip netns del "$LAB_CLI" 2>/dev/null
	rm -rf "$LAB_PIN" 2>/dev/null
	[ -n "${LAB_KEEP:-}" ] || rm -rf "$LAB_DIR"
	rm -f "/run/mxlimit/policy-$(echo "$LAB_PIN" | tr / _)"
}

lab_setup() {
	# interface names are at most 15 characters
	LAB_IF_SRV=$(echo "vs$TEST_ID" | cut -c1-15)
	LAB_IF_CLI=$(echo "vc$TEST_ID" | cut -c1-15)
	on_exit lab_teardown
	ip netns add "$LAB_SRV" && ip netns add "$LAB_CLI" || return 1
	ip link add "$LAB_IF_SRV" netns "$LAB_SRV" type veth peer name "$LAB_IF_CLI" netns "$LAB_CLI" || return 1
	ip -n "$LAB_SRV" addr add $LAB_SRV4/15 dev "$LAB_IF_SRV"
	ip -n "$LAB_CLI" addr add $LAB_CLI4/15 dev "$LAB_IF_CLI"
	ip -n "$LAB_SRV" addr add $LAB_SRV6/64 dev "$LAB_IF_SRV" nodad
	ip -n "$LAB_CLI" addr add $LAB_CLI6/64 dev "$LAB_IF_CLI" nodad
	for ns in "$LAB_SRV" "$LAB_CLI"; do ip -n "$ns" link set lo up; done
	ip -n "$LAB_SRV" link set "$LAB_IF_SRV" up
	ip -n "$LAB_CLI" link set "$LAB_IF_CLI" up
	# XDP_TX from the server side reaches the client only if the client's
	# veth runs an XDP program itself (docs/design.md "Labs and their pitfalls").
	ip -n "$LAB_CLI" link set dev "$LAB_IF_CLI" xdpgeneric off 2>/dev/null
	ip -n "$LAB_CLI" link set dev "$LAB_IF_CLI" xdp obj "$LAB_BARE" sec xdp || return 1
	# veth needs both ends up with a carrier; wait for it (bounded)
	for _ in $(seq 50); do
		ip -n "$LAB_CLI" -6 addr show dev "$LAB_IF_CLI" | grep -q tentative || break
		sleep 0.1
	done
	ip netns exec "$LAB_CLI" ping -c1 -W2 $LAB_SRV4 >/dev/null 2>&1 || return 1
}

lab_client_addr() { # add another client address (v4 on the /15, v6 on the /64)
	ip -n "$LAB_CLI" addr add "$1/$([ "${1#*:}" != "$1" ] && echo 64 || echo 15)" dev "$LAB_IF_CLI" nodad 2>/dev/null ||
		ip -n "$LAB_CLI" addr add "$1/$([ "${1#*:}" != "$1" ] && echo 64 || echo 15)" dev "$LAB_IF_CLI"
}

# `load` restores blocks from a state file: the lab's own, never the host's
lab_mx() {
	if [ "${1:-}" = load ]; then
		shift
		set -- load --state "$LAB_DIR/state.gz" "$@"
	fi
	nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" "$@"
}

# lab_load_or_die NAME LOAD-ARGS...: the lab's first load (only that one:
# later loads are what a test checks).  On success "ok - NAME", load's
# output as comments.  If mxlimit cannot load here every later check would
# wait out its timeout, so instead: ONE failure line with the first lines
# of load's stderr, and the test file ends at once, non-zero (the EXIT trap
# of tests/lib.sh removes the lab).
lab_load_or_die() {
	local name=$1 err rc; shift
	err=$(lab_mx load "$@" 2>&1 >"$LAB_DIR/load.out")
	rc=$?
	if [ "$rc" = 0 ]; then
		cat "$LAB_DIR/load.out" - <<<"$err" | sed '/^$/d; s/^/# /'
		ok "$name"
		return 0
	fi
	# no error text: say how it ended, and what it printed on stdout
	[ -n "$err" ] || err="exit status $rc$(head -n 3 "$LAB_DIR/load.out" | sed 's/^/; /' | tr -d '\n')"
	# the first three lines of stderr, errors before fallback warnings
	err=$(awk '{ sub(/[ \t\r]+$/, "") } $0 == "" { next }
		/: warning: / { w[nw++] = $0; next } { e[ne++] = $0 }
		END { for (i = 0; i < nw; i++) e[ne++] = w[i]
		      for (i = 0; i < ne && i < 3; i++) printf "%s%s", (i ? " / " : ""), e[i] }' <<<"$err")
	echo "not ok - lab: mxlimit load failed: $err"
	echo "# $name: the rest of this test file is skipped (\`mxlimit doctor\` says what the kernel lacks)"
	exit 1
}

lab_server() {
	nsenter --net=/run/netns/$LAB_SRV python3 -u "$HERE_LAB/lab_server.py" --max-seconds 600 "$@" \
		>"$LAB_DIR/server.out" 2>&1 &
	LAB_PIDS="${LAB_PIDS:-} $!"
	for _ in $(seq 50); do grep -q listening "$LAB_DIR/server.out" && return 0; sleep 0.1; done
	return 1
}

lab_client_start() {
	coproc LABCLIENT { nsenter --net=/run/netns/$LAB_CLI python3 -u "$HERE_LAB/lab_client.py"; }
	LAB_CLIENT_PID=$LABCLIENT_PID
}

_lab_cmd() {
	local line
	echo "$*" >&"${LABCLIENT[1]}"
	if read -r -t 30 line <&"${LABCLIENT[0]}"; then echo "$line"; else echo "error no-reply"; fi
}

# lab_open NAME SRC [PORT [DST [TIMEOUT]]]: prints ok | timeout | refused | error
lab_open() {
	local dst=${4:-} r
	if [ -z "$dst" ]; then
		case $2 in *:*) dst=$LAB_SRV6 ;; *) dst=$LAB_SRV4 ;; esac
	fi
	r=$(_lab_cmd open "$1" "$2" "$dst" "${3:-25}" "${5:-2}")
	echo "${r%% *}"
}
lab_close() { _lab_cmd close "$1" >/dev/null; }
lab_reset() { _lab_cmd reset "$1" >/dev/null; }
lab_closeall() { _lab_cmd closeall >/dev/null; }

# lab_status_field FIELD: a top-level number from `status --json`
lab_status_field() {
	lab_mx status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

# wait_for N CMD...: retry a check (bounded, 0.1 s steps) until it holds
wait_for() {
	local n=$1 i; shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
	"$@"
}

# lab_policy NAME <<EOF ... EOF: write a policy file into the lab dir
lab_policy() { cat >"$LAB_DIR/$1"; echo "$LAB_DIR/$1"; }
