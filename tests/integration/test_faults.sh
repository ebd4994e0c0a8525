#!/bin/bash
# Faults: what an operator's bad day does to enforcement.
#   - `mxlimit daemon` killed with SIGKILL mid-traffic: limits, blocks and
#     counts go on in the kernel; a new daemon starts over the stale socket
#   - `reload` every 100 ms while a client hammers with concurrency 1: it
#     never holds two connections at once, and the counts end at 0
#   - the policy file replaced by garbage (binary, truncated, gone):
#     `reload` exits non-zero, SIGHUP leaves the daemon running, and the old
#     policy stays in force
#   - bpffs not mounted (a private mount namespace): load mounts it, or
#     fails saying so
#   - an attached interface deleted: status and unload still work and say
#     so; the other interface keeps its limits
# (The proxy's SIGKILL belongs to the proxy tests.)  Bounded: ~40 s.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "faults lab"
lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
lab_client_start
C=$LAB_CLI4

pol=$(lab_policy limit.ini <<'P'
[main]
ports = 25
action = reset
[concurrency]
enabled = true
max = 1
198.51.100.0/24 = 5
P
)
# the same limit for our client, other rules around it
polB=$(lab_policy limitB.ini <<'P'
[main]
ports = 25
action = reset
pending_timeout = 3s
[concurrency]
enabled = true
max = 1
203.0.113.0/24 = 7
[rate_conn]
enabled = true
default = 10000/1m
P
)
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"
active_is() { [ "$(lab_status_field active_connections)" = "$1" ]; }
gen() { lab_mx status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"]["generation"])'; }

# ---- the daemon killed mid-traffic ----
DMN=$LAB_DIR/dmn
mkdir -p "$DMN"
dmn_start() {
	local i
	: >"$DMN/log"
	nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon -c "$pol" \
		--socket "$DMN/v.sock" --state "$DMN/state.gz" -v >>"$DMN/log" 2>&1 &
	DMN_PID=$!
	on_exit "kill $DMN_PID 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		grep -q 'daemon ready' "$DMN/log" && return 0
		kill -0 "$DMN_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
check "daemon starts" dmn_start
check_eq "first connection" "$(lab_open d1 $C)" ok
kill -KILL "$DMN_PID"
wait "$DMN_PID" 2>/dev/null
check "daemon is gone (SIGKILL)" bash -c "! kill -0 $DMN_PID 2>/dev/null"
check_eq "without the daemon the limit holds: 2nd refused" "$(lab_open d2 $C)" refused
check "the open connection is still counted" active_is 1
lab_close d1
check "its close is counted without the daemon" wait_for 30 active_is 0
check_eq "a new connection fits again" "$(lab_open d3 $C)" ok
lab_close d3
check "block without the daemon" lab_mx block 198.18.0.2 --ttl 1h --reason fault
check_eq "blocked source refused" "$(lab_open d4 $C)" refused
check "unblock" lab_mx unblock 198.18.0.2
check "counts back to 0" wait_for 30 active_is 0
check "a new daemon starts over the stale socket" dmn_start
kill -HUP "$DMN_PID"
printf '\x00\xff\xfe[concurrency\nmax = \x01\n' >"$pol.tmp"
cp "$pol" "$pol.good"
g0=$(gen)
mv "$pol.tmp" "$pol" # replaced by garbage, as an editor or a bad deploy would
kill -HUP "$DMN_PID"
sleep 0.5
check "SIGHUP with a garbage policy: the daemon keeps running" kill -0 "$DMN_PID"
check_eq "and the policy generation is unchanged" "$(gen)" "$g0"
kill -TERM "$DMN_PID"
wait "$DMN_PID" 2>/dev/null

# ---- the policy file replaced by garbage ----
lab_mx reload >/dev/null 2>"$LAB_DIR/err"; rc=$?
check_eq "reload of a binary garbage file exits 2" "$rc" 2
check "and names the file" grep -q "limit.ini" "$LAB_DIR/err"
printf '[main]\nports = 25\n[concurrency]\nenabled = tr' >"$pol"
lab_mx reload >/dev/null 2>&1; rc=$?
check_eq "reload of a truncated file exits 2" "$rc" 2
rm -f "$pol"
lab_mx reload >/dev/null 2>"$LAB_DIR/err"; rc=$?
failed_saying() { [ "$1" -ne 0 ] && grep -qi "limit.ini" "$LAB_DIR/err"; }
check "reload of a missing file fails (exit $rc) saying so" failed_saying "$rc"
check_eq "policy generation unchanged by all of them" "$(gen)" "$g0"
check_eq "old policy in force: 1st connection" "$(lab_open g1 $C)" ok
check_eq "old policy in force: 2nd refused" "$(lab_open g2 $C)" refused
lab_closeall
cp "$pol.good" "$pol"
check "counts back to 0" wait_for 30 active_is 0

# ---- reload every 100 ms under a concurrency-1 hammer ----
cat >"$LAB_DIR/hammer.py" <<'PY'
# Hold one connection; keep trying a second.  A second that connects while
# the first is open means two at once: a moment without the limit.  Every
# 10th round the first is closed and reopened.  Bounded by SECONDS.
import socket, sys, time
src, dst, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.time() + secs
def conn():
    s = socket.socket(); s.settimeout(1.0); s.bind((src, 0))
    try:
        s.connect((dst, 25)); return s
    except OSError:
        s.close(); return None
first = None; tries = over = refused = reopen = 0; i = 0
while time.time() < end:
    i += 1
    if first is None:
        first = conn(); reopen += first is not None; continue
    s = conn(); tries += 1
    if s is not None:
        over += 1; s.close()
    else:
        refused += 1
    if i % 10 == 0:
        first.close(); first = None; time.sleep(0.02)
if first: first.close()
print("tries %d over %d refused %d opened %d" % (tries, over, refused, reopen), flush=True)
PY
( for ((i = 0; i < 120; i++)); do
	[ -f "$LAB_DIR/hammer.done" ] && break
	lab_mx reload -c "$([ $((i % 2)) = 0 ] && echo "$polB" || echo "$pol")" >/dev/null 2>&1 ||
		echo "$i" >>"$LAB_DIR/reload.fail"
	sleep 0.1
done; echo "$i" >"$LAB_DIR/reloads" ) &
RL=$!
out=$(nsenter --net=/run/netns/$LAB_CLI timeout 30 python3 "$LAB_DIR/hammer.py" $C $LAB_SRV4 8)
touch "$LAB_DIR/hammer.done"
wait "$RL"
echo "# hammer: $out; $(cat "$LAB_DIR/reloads") reloads"
set -- $out
check "hammer ran (${2:-0} second connections tried)" [ "${2:-0}" -gt 20 ]
check_eq "never two connections at once while reloading" "${4:-x}" 0
check_eq "no reload failed" "$(cat "$LAB_DIR/reload.fail" 2>/dev/null | wc -l)" 0
check "counts back to 0 after the hammer" wait_for 50 active_is 0
lab_mx reload -c "$pol" >/dev/null 2>&1

# ---- an attached interface deleted ----
X=$(echo "vx$TEST_ID" | cut -c1-15)
Y=$(echo "vy$TEST_ID" | cut -c1-15)
ip -n "$LAB_SRV" link add "$X" type veth peer name "$Y" && ip -n "$LAB_SRV" link set "$X" up &&
	ip -n "$LAB_SRV" link set "$Y" up
check "attach to a second interface" lab_mx load -i "$X" -c "$pol"
ip -n "$LAB_SRV" link del "$X"
lab_mx status >"$LAB_DIR/st" 2>&1; rc=$?
check_eq "status with an attached interface deleted exits 0" "$rc" 0
check "status says the interface is gone" grep -Eqi "$X.*(gone|missing|not found|removed|no such)" "$LAB_DIR/st"
check "status --json still parses" bash -c "nsenter --net=/run/netns/$LAB_SRV '$MXLIMIT' --pin-dir '$LAB_PIN' status --json | python3 -m json.tool >/dev/null"
check_eq "the other interface keeps its limit: 1st" "$(lab_open x1 $C)" ok
check_eq "the other interface keeps its limit: 2nd refused" "$(lab_open x2 $C)" refused
lab_closeall
lab_mx unload -i "$X" >"$LAB_DIR/un" 2>&1; rc=$?
check "unload of the deleted interface: exit $rc, says so" \
	bash -c "[ $rc -le 1 ] && { [ $rc = 0 ] || grep -qi '$X' '$LAB_DIR/un'; }"
check "unload --all after that" lab_mx unload --all
check "unload --all removed the pins" bash -c "[ -z \"\$(ls -A '$LAB_PIN' 2>/dev/null)\" ]"

# ---- bpffs not mounted ----
NOFS=/sys/fs/bpf/mxlimit-test-$TEST_ID-nofs
on_exit "rm -f /run/mxlimit/policy-$(echo "$NOFS" | tr / _)"
cat >"$LAB_DIR/nofs.sh" <<EOF
umount -l /sys/fs/bpf 2>/dev/null
mountpoint -q /sys/fs/bpf && { echo "still-mounted"; exit 3; }
"$MXLIMIT" --pin-dir "$NOFS" load -i "$LAB_IF_SRV" -c "$pol.good" >"$LAB_DIR/nofs.out" 2>&1
echo "load=\$?"
mountpoint -q /sys/fs/bpf && echo mounted
"$MXLIMIT" --pin-dir "$NOFS" status >/dev/null 2>&1 && echo status-ok
"$MXLIMIT" --pin-dir "$NOFS" unload --all >/dev/null 2>&1 && echo unloaded
EOF
# a private mount namespace: the host's bpffs is untouched
nofs=$(unshare -m --propagation private nsenter --net=/run/netns/$LAB_SRV bash "$LAB_DIR/nofs.sh" 2>&1 | tr '\n' ' ')
echo "# bpffs unmounted: $nofs"
if [[ $nofs == *load=0* ]]; then
	check "load without bpffs mounts it" grep -q mounted <<<"$nofs"
	check "and works there (status, unload --all)" grep -q "status-ok unloaded" <<<"$nofs"
else
	check "load without bpffs fails saying so" grep -Eqi "bpf.*(mount|fs)|mount" "$LAB_DIR/nofs.out"
fi
check "the host's bpffs is still mounted" mountpoint -q /sys/fs/bpf
check "no pin left behind on the host" bash -c "[ ! -e '$NOFS' ]"
exit 0
