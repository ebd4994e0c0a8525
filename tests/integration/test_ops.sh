#!/bin/bash
# Operations: block / unblock / --ttl expiry, load twice (programs
# replaced, counts kept), unload per interface and --all, check's exit
# codes and messages, --help of every command.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "ops lab"

# --- check: no lab needed, touches no pins
good=$(mktemp); bad=$(mktemp); on_exit rm -f "$good" "$bad"
printf '[concurrency]\nenabled = true\nmax = 3\n198.51.100.0/24 = 10\n' >"$good"
"$MXLIMIT" --pin-dir /sys/fs/bpf/mxlimit-test-nonexistent-$TEST_ID check -c "$good" >/dev/null; rc=$?
check_eq "check: a good file exits 0" "$rc" 0
check "check: creates no pins" [ ! -e /sys/fs/bpf/mxlimit-test-nonexistent-$TEST_ID ]
check "check --json prints JSON" bash -c "'$MXLIMIT' check -c '$good' --json | python3 -c 'import json,sys; json.load(sys.stdin)'"
printf '[concurrency]\nenabled = true\nmax = 3\n1.2.3.4/33 = 1\n' >"$bad"
"$MXLIMIT" check -c "$bad" >/dev/null 2>"$bad.err"; rc=$?
on_exit rm -f "$bad.err"
check_eq "check: a broken file exits 2" "$rc" 2
check "check: message is mxlimit: FILE:LINE: ..." grep -q "^mxlimit: $bad:4: " "$bad.err"
"$MXLIMIT" check -c /nonexistent/limit.ini >/dev/null 2>&1; rc=$?
check_eq "check: a missing file exits 2" "$rc" 2
"$MXLIMIT" frobnicate >/dev/null 2>&1; rc=$?
check_eq "unknown command exits 2" "$rc" 2
for c in load unload reload check status top query block unblock blocks daemon doctor; do
	check "$c --help" bash -c "'$MXLIMIT' $c --help | grep -q '^Usage: mxlimit $c'"
done

lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
lab_client_start
lab_client_addr 198.18.0.3
lab_client_addr 198.19.0.9
active_is() { [ "$(lab_status_field active_connections)" = "$1" ]; }
pol=$(lab_policy ops.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 10
P
)
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"

# --- block / unblock / ttl
check "block a /24" lab_mx block 198.18.0.0/24 --reason spam
check_eq "blocked source refused" "$(lab_open b1 $LAB_CLI4 25 "" 1.5)" timeout
check "blocks lists it with its reason" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx blocks | grep -q '198.18.0.0/24 *block *never *spam'"
check_eq "a source outside the block is admitted" "$(lab_open b2 198.19.0.9)" ok
check "unblock" lab_mx unblock 198.18.0.0/24
check_eq "admitted after unblock" "$(lab_open b3 $LAB_CLI4)" ok
lab_mx unblock 198.18.0.0/24 2>/dev/null; rc=$?
check_eq "unblock of what is not blocked exits 1" "$rc" 1
check "unblock --missing-ok of what is not blocked exits 0" lab_mx unblock 198.18.0.0/24 --missing-ok
# owners: the longer block keeps its reason; --reason lifts only its own
lab_mx block 198.18.0.9 --reason admin
lab_mx block 198.18.0.9 --ttl 60 --reason f2b-x
check "a shorter block over a permanent one changes nothing (reason admin, never)" \
	bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx blocks | grep -q '^198.18.0.9 *block *never *admin'"
lab_mx unblock 198.18.0.9 --reason f2b-x 2>/dev/null; rc=$?
check_eq "unblock --reason of another owner's block exits 1" "$rc" 1
check "and the admin's block stays" \
	bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx blocks | grep -q '^198.18.0.9 *block *never *admin'"
check "unblock --reason admin lifts it" lab_mx unblock 198.18.0.9 --reason admin
check_eq "nothing left on 198.18.0.9" "$(lab_mx blocks | grep -c '^198.18.0.9 ')" 0
lab_mx block 198.18.0.0/33 2>/dev/null; rc=$?
check_eq "block of a bad prefix exits 2" "$rc" 2
check "block with --ttl 2s" lab_mx block $LAB_CLI4 --ttl 2s
check_eq "refused while the ttl runs" "$(lab_open t1 $LAB_CLI4 25 "" 1)" timeout
sleep 2
check_eq "admitted after the ttl, with no daemon" "$(lab_open t2 $LAB_CLI4)" ok
check "blocks --json is JSON" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx blocks --json | python3 -c 'import json,sys; json.load(sys.stdin)'"
lab_closeall
check "closed: 0 active" wait_for 50 active_is 0

# --- load twice: programs replaced, counters kept
lab_open l1 $LAB_CLI4 >/dev/null; lab_open l2 $LAB_CLI4 >/dev/null
check "two open" wait_for 30 active_is 2
id1=$(lab_mx status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["prog_id"])')
check "load again on the same interface" lab_mx load -i "$LAB_IF_SRV" -c "$pol"
id2=$(lab_mx status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["prog_id"])')
check "the program was replaced" [ "$id1" != "$id2" ]
check_eq "one XDP program on the interface" "$(ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -c 'prog/xdp')" 1
check "counts kept across the reload of programs" active_is 2
lab_closeall
check "and they drain to 0" wait_for 50 active_is 0

# --- another program on the interface: refused unless forced
lab_mx unload -i "$LAB_IF_SRV"
check_eq "unload -i: no XDP program left" "$(ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -c 'prog/xdp')" 0
ip -n "$LAB_SRV" link set dev "$LAB_IF_SRV" xdp obj "$ROOT/$BUILD/bpf/bare.bpf.o" sec xdp
lab_mx load -i "$LAB_IF_SRV" -c "$pol" 2>"$LAB_DIR/err"; rc=$?
check_eq "load over a foreign XDP program refuses (exit 1)" "$rc" 1
check "and says why" grep -q "not mxlimit's" "$LAB_DIR/err"
check "load --force replaces it" lab_mx load -i "$LAB_IF_SRV" -c "$pol" --force
check_eq "limits apply after --force" "$(lab_open f1 $LAB_CLI4)" ok

# --- explicit XDP modes
lab_closeall
check "unload -i before a mode change" lab_mx unload -i "$LAB_IF_SRV"
check "load --mode generic" lab_mx load -i "$LAB_IF_SRV" -c "$pol" --mode generic
check_eq "status says generic" "$(lab_mx status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["mode"])')" generic
check "the kernel shows a generic (xdpgeneric) program" bash -c "ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -q xdpgeneric"
check_eq "limits apply in generic mode" "$(lab_open gm1 $LAB_CLI4)" ok
lab_mx block $LAB_CLI4 --ttl 1m
check_eq "a block applies in generic mode" "$(lab_open gm2 $LAB_CLI4 25 "" 1.5)" timeout
lab_mx unblock $LAB_CLI4
lab_mx load -i "$LAB_IF_SRV" -c "$pol" --mode bogus 2>/dev/null; rc=$?
check_eq "--mode bogus is a usage error" "$rc" 2
lab_closeall
check "unload -i, then native" lab_mx unload -i "$LAB_IF_SRV"
check "load --mode native" lab_mx load -i "$LAB_IF_SRV" -c "$pol" --mode native
check_eq "status says native" "$(lab_mx status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["mode"])')" native

# --- unload --all: nothing attached, no pins
check "unload --all" lab_mx unload --all
check_eq "no XDP program after unload --all" "$(ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -c 'prog/xdp')" 0
check "no pins after unload --all" [ ! -e "$LAB_PIN" ]
lab_mx status >/dev/null 2>&1; rc=$?
check_eq "status when not loaded exits 1" "$rc" 1
lab_closeall
exit 0
