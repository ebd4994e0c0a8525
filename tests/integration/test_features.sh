#!/bin/bash
# Kernel features and fallbacks: for every implementation a mechanism can
# fall back to (forced with MXLIMIT_DISABLE, handled in one place in the
# loader), `doctor`, `load` and `status` report the same implementation,
# load warns once per fallen-back mechanism, and enforcement and counting
# still work on that path: connections open before load are counted (or,
# with seeding off, are not and never go negative), the limit holds, and
# every count is back to zero after every connection closed.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "features lab"
lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
lab_client_start

pol=$(lab_policy feat.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 3
P
)

# fail fast: a lab where mxlimit cannot load at all ends here
lab_load_or_die "load (as the kernel allows)" -i "$LAB_IF_SRV" -c "$pol"
lab_mx unload --all >/dev/null 2>&1

# ... and that is what a lab test does when load fails: a test file of its
# own (its own lab) whose load cannot succeed stops at its first check with
# load's error as its one failure, and runs nothing after it
cat >"$LAB_DIR/failfast.sh" <<FF
source "$ROOT/tests/lib.sh"
source "$ROOT/tests/integration/lab.sh"
lab_setup || { fail "lab setup"; exit 1; }
lab_load_or_die "load" -i mxnosuch -c "$pol"
ok "after the failed load"
exit 0
FF
ff=$(timeout 120 bash "$LAB_DIR/failfast.sh" 2>&1)
ffrc=$?
check "fail fast: the test file ends with a non-zero status ($ffrc)" test "$ffrc" -ne 0 -a "$ffrc" -ne 124
check_eq "fail fast: exactly one failure" "$(grep -c '^not ok' <<<"$ff")" 1
check "fail fast: it carries load's error" grep -q '^not ok - lab: mxlimit load failed: .*mxnosuch' <<<"$ff"
check_eq "fail fast: nothing after it ran" "$(grep -c 'after the failed load' <<<"$ff")" 0

# features as a "seed sweep" pair from doctor --json / status --json
feats() { python3 -c 'import json,sys; f=json.load(sys.stdin)["features"]; print(f["seed"], f["sweep"])'; }
field() { lab_mx status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }
active_is() { [ "$(lab_status_field active_connections)" = "$1" ]; }

# mode (MXLIMIT_DISABLE), the seed and sweep implementations expected,
# how many fallback warnings load prints
scenario() {
	local mode=$1 want="$2 $3" nwarn=$4 tag=${5} out got seeded
	export MXLIMIT_DISABLE=$mode
	got=$(lab_mx doctor --json | feats)
	check_eq "[$tag] doctor reports seed/sweep" "$got" "$want"

	# two IPv4 connections and one IPv6 connection exist before load
	check_eq "[$tag] pre-load connection 1" "$(lab_open ${tag}p1 $LAB_CLI4)" ok
	check_eq "[$tag] pre-load connection 2" "$(lab_open ${tag}p2 $LAB_CLI4)" ok
	check_eq "[$tag] pre-load IPv6 connection" "$(lab_open ${tag}p3 $LAB_CLI6)" ok

	out=$(lab_mx load -i "$LAB_IF_SRV" -c "$pol" 2>&1)
	check "[$tag] load succeeds" test $? -eq 0
	check_eq "[$tag] load warns once per fallen-back mechanism" \
		"$(grep -c 'warning:' <<<"$out")" "$nwarn"
	got=$(lab_mx status --json | feats)
	check_eq "[$tag] status --json agrees with doctor" "$got" "$want"
	check "[$tag] status text names the implementations" \
		grep -q "features: xdp, sockstate tp_btf, seed $2, sweep $3" <(lab_mx status)

	if [ "$2" = off ]; then
		seeded=0
		check "[$tag] seeding off: the connections from before load are not counted" \
			wait_for 20 active_is 0
		for i in 1 2 3; do
			check_eq "[$tag] new connection $i of 3" "$(lab_open ${tag}n$i $LAB_CLI4)" ok
		done
	else
		seeded=3
		check "[$tag] the connections from before load are counted ($2)" wait_for 20 active_is 3
		check_eq "[$tag] seeded count by counter" "$(field '["counters"]["conn_seeded"]')" 3
		check_eq "[$tag] a third IPv4 connection fits the limit" "$(lab_open ${tag}n1 $LAB_CLI4)" ok
	fi
	check_eq "[$tag] the limit holds (4th IPv4 refused)" \
		"$(lab_open ${tag}x $LAB_CLI4 25 "" 1.5)" timeout
	check "[$tag] IPv4 source counts 3" wait_for 20 active_is $((seeded == 3 ? 4 : 3))

	# a sweep (load runs one) must not count down live connections
	out=$(lab_mx load -i "$LAB_IF_SRV" -c "$pol" 2>&1)
	check "[$tag] load again (a reconciliation pass) keeps the live counts" \
		wait_for 20 active_is $((seeded == 3 ? 4 : 3))

	lab_closeall
	check "[$tag] every connection closed: 0 active" wait_for 50 active_is 0
	check_eq "[$tag] no counter went below zero" "$(field '["counters"]["underflow"]')" 0
	check "[$tag] unload --all" lab_mx unload --all
	unset MXLIMIT_DISABLE
}

scenario ""               iter_tcp  syscall 0 all
scenario seed_iter        sock_diag syscall 1 diag
scenario seed_iter,sweep  sock_diag off     2 nosweep
scenario seed             off       off     2 noseed

# an unknown name is reported, not ignored silently
out=$(MXLIMIT_DISABLE=bogus lab_mx doctor 2>&1 >/dev/null)
check "MXLIMIT_DISABLE: an unknown name is reported" grep -q "unknown mechanism 'bogus'" <<<"$out"

# metrics say the same as status (the daemon reads what load recorded)
MXLIMIT_DISABLE=seed_iter lab_mx load -i "$LAB_IF_SRV" -c "$pol" >/dev/null 2>&1
port=$((20000 + RANDOM % 20000))
nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon -c "$pol" \
	--socket "$LAB_DIR/v.sock" --state "$LAB_DIR/d.gz" --metrics 127.0.0.1:$port \
	>"$LAB_DIR/daemon.out" 2>&1 &
LAB_PIDS="$LAB_PIDS $!"
metrics() {
	nsenter --net=/run/netns/$LAB_SRV python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=2).read().decode())" 2>/dev/null
}
check "metrics: the daemon answers" wait_for 50 bash -c "$(declare -f metrics); port=$port LAB_SRV=$LAB_SRV metrics | grep -q mxlimit_feature"
m=$(metrics)
check "metrics: seed sock_diag" grep -q 'mxlimit_feature{mechanism="seed",implementation="sock_diag"} 1' <<<"$m"
check "metrics: sweep syscall" grep -q 'mxlimit_feature{mechanism="sweep",implementation="syscall"} 1' <<<"$m"

[ "$T_FAILED" = 0 ]
