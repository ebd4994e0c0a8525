#!/bin/bash
# make demo: a real SMTP server (Postfix's smtp-sink) behind mxlimit in a
# namespace lab.  A legitimate sender delivers mail with smtp-source while
# an abusive client tries to hold far more connections than the policy
# allows; then mxlimit status and top show what was admitted and refused.
# Everything is created with unique names and removed at the end, also on
# failure or Ctrl-C.  Only namespaces this script creates are touched.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
ID=$$
SRV=mxdemo-srv-$ID GOOD=mxdemo-good-$ID BAD=mxdemo-bad-$ID
IFG=dg$ID IFGP=dgp$ID IFB=db$ID IFBP=dbp$ID
PIN=/sys/fs/bpf/mxlimit-demo-$ID
TMP=$(mktemp -d /tmp/mxlimit-demo-XXXXXX)
MX="$ROOT/$BUILD/mxlimit"
PIDS=""

. "$ROOT/scripts/demo-lib.sh"
cleanup() {
	demo_stop $PIDS
	nsenter --net=/run/netns/$SRV "$MX" --pin-dir "$PIN" unload --all >/dev/null 2>&1
	for ns in $SRV $GOOD $BAD; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP" "$PIN"
	rm -f "/run/mxlimit/policy-$(echo "$PIN" | tr / _)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

demo_setup demo

say "lab: server $SRV, legitimate client $GOOD, abusive client $BAD"
{
	ip netns add $SRV && ip netns add $GOOD && ip netns add $BAD &&
	ip link add $IFG netns $SRV type veth peer name $IFGP netns $GOOD &&
	ip link add $IFB netns $SRV type veth peer name $IFBP netns $BAD &&
	ip -n $SRV addr add 198.18.1.1/24 dev $IFG &&
	ip -n $SRV addr add 198.18.2.1/24 dev $IFB &&
	ip -n $GOOD addr add 198.18.1.2/24 dev $IFGP &&
	ip -n $BAD addr add 198.18.2.2/24 dev $IFBP &&
	for l in "$SRV lo" "$SRV $IFG" "$SRV $IFB" "$GOOD lo" "$GOOD $IFGP" "$BAD lo" "$BAD $IFBP"; do
		set -- $l; ip -n "$1" link set "$2" up || demo_lab_failed "link $2 up"
	done &&
	# the clients' veths run a pass-through XDP program so that mxlimit's
	# resets (XDP_TX) reach them (docs/design.md "Labs and their pitfalls")
	ip -n $GOOD link set dev $IFGP xdp obj "$BUILD/bpf/bare.bpf.o" sec xdp &&
	ip -n $BAD link set dev $IFBP xdp obj "$BUILD/bpf/bare.bpf.o" sec xdp
} || demo_lab_failed "namespaces, veths or addresses"

cat >"$TMP/limit.ini" <<'P'
; the demo's policy (see config/limit.ini for every option)
[main]
ports = 25
action = reset

[concurrency]
enabled = true
max = 5

[rate_conn]
enabled = true
default = 60/1m
; as haraka-plugin-limit ships it: loopback is never rate limited
127 = 0
P
say "policy"
cat "$TMP/limit.ini"

say "smtp-sink on 198.18.1.1:25 / 198.18.2.1:25, mxlimit loaded on both server interfaces"
nsenter --net=/run/netns/$SRV timeout 120 smtp-sink -u nobody -c 0.0.0.0:25 1024 >"$TMP/sink.out" 2>&1 &
PIDS="$PIDS $!"
nsenter --net=/run/netns/$SRV "$MX" --pin-dir "$PIN" load -i $IFG -i $IFB -c "$TMP/limit.ini" \
	--state "$TMP/state.gz" || demo_lab_failed "mxlimit load"
sleep 0.5

say "abusive client: tries to hold 200 connections for 8 s"
demo_abuser $BAD "$TMP/bad.out" 198.18.2.1
PIDS="$PIDS $!"
sleep 1

say "legitimate client: smtp-source sends 50 messages over 2 parallel sessions"
nsenter --net=/run/netns/$GOOD timeout 60 smtp-source -s 2 -m 50 -f sender@example.org \
	-t rcpt@example.com 198.18.1.1:25 && good=ok && echo "smtp-source: 50 messages accepted"

sleep 1
echo "abusive client: $(demo_kv "$TMP/bad.out" held) connections held," \
	"$(demo_kv "$TMP/bad.out" refused) refused by reset, $(demo_kv "$TMP/bad.out" timedout) timed out"
say "mxlimit status"
nsenter --net=/run/netns/$SRV "$MX" --pin-dir "$PIN" status | tee "$TMP/status.out"
say "mxlimit top"
nsenter --net=/run/netns/$SRV "$MX" --pin-dir "$PIN" top -n 5
say "mxlimit query 198.18.2.2"
nsenter --net=/run/netns/$SRV "$MX" --pin-dir "$PIN" query 198.18.2.2

say "what the demo expects"
demo_expect_clients "${good:-}" "$TMP/bad.out" "the server's kernel (resets)"
demo_expect "status counts its 5 connections" \
	grep -q '^active connections: 5 ' "$TMP/status.out"
demo_expect "the kernel sent 195 resets" grep -qE '^ +rst_sent +195$' "$TMP/status.out"
say "done: tearing the lab down"
demo_end
