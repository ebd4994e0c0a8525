#!/bin/bash
# bench-gateway.sh - gateway mode's forwarding cost and a legitimate
# client's service during a spoofed SYN flood through the gateway, side by
# side in one run:
#
#   gen (synflood, legit client) --veth-- gw (router + limiter) --veth-- srv (smtp-sink :25)
#
# Rows, each under the same flood (fresh spoofed /32s from 198.19.0.0/16,
# flat out for FLOOD_SECONDS, bounded), the limiter on the gateway only:
#   router      forwarding, no limiter
#   mxlimit     `mxlimit load --gateway` (native XDP both sides), [concurrency]
#               default = 10
#   connlimit   iptables FORWARD -m connlimit --connlimit-above 10 (conntrack)
# Measured: the gateway's receive CPU per packet (the threaded NAPI threads
# of its client-facing veth, pinned to one CPU: XDP, GRO, conntrack, IP
# forwarding and the transmit into the server's veth all run there), the
# flood rate the generator reached, and the legitimate client's sessions
# (connect, 220, QUIT) and connect latency.  Ratios to the router row.
# Timing is never a failure; a row that cannot run makes the exit status 1.
#   BUILD=build scripts/bench-gateway.sh
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "bench-gateway: run as root" >&2; exit 1; }
ID=$$
GEN=mxgw-gen-$ID GW=mxgw-gw-$ID SRV=mxgw-srv-$ID
IF_GEN=gg$ID IF_GWC=gc$ID IF_GWS=gs$ID IF_SRV=gv$ID
PIN=/sys/fs/bpf/mxlimit-bench-gw-$ID
DIR=$(mktemp -d /tmp/mxlimit-bgw-XXXXXX)
MX=$ROOT/$BUILD/mxlimit
SYNFLOOD=$ROOT/$BUILD/tools/synflood
LEGIT=$ROOT/$BUILD/tools/legit
SECONDS_=${FLOOD_SECONDS:-5}
QUEUES=4
GEN_CPU=0 RX_CPU=1
PIDS=""
rc=0

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	nsenter --net=/run/netns/$GW "$MX" --pin-dir "$PIN" unload --all >/dev/null 2>&1
	for ns in $GEN $GW $SRV; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$PIN" "$DIR"
	rm -f "/run/mxlimit/policy-$(echo "$PIN" | tr / _)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in "$MX" "$SYNFLOOD" "$LEGIT"; do
	[ -x "$t" ] || { echo "bench-gateway: $t is not built (make tests-build)" >&2; exit 1; }
done
ns() { local n=$1; shift; nsenter --net=/run/netns/"$n" "$@"; }
mx() { ns $GW "$MX" --pin-dir "$PIN" "$@"; }

setup() {
	local n
	for n in $GEN $GW $SRV; do ip netns add "$n" || return 1; ip -n "$n" link set lo up; done
	ip link add $IF_GEN netns $GEN numtxqueues $QUEUES numrxqueues $QUEUES type veth \
		peer name $IF_GWC netns $GW numtxqueues $QUEUES numrxqueues $QUEUES || return 1
	ip link add $IF_GWS netns $GW type veth peer name $IF_SRV netns $SRV || return 1
	ip -n $GEN addr add 198.18.0.2/24 dev $IF_GEN
	ip -n $GW addr add 198.18.0.1/24 dev $IF_GWC
	ip -n $GW addr add 198.18.1.1/24 dev $IF_GWS
	ip -n $SRV addr add 198.18.1.2/24 dev $IF_SRV
	ip -n $GEN link set $IF_GEN up; ip -n $GW link set $IF_GWC up
	ip -n $GW link set $IF_GWS up; ip -n $SRV link set $IF_SRV up
	ns $GW sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 "net.ipv4.conf.$IF_GWC.rp_filter=0"
	ip -n $GEN route add default via 198.18.0.1
	ip -n $SRV route add default via 198.18.1.1
	# the server's SYN-ACKs to the spoofed sources go back through the
	# gateway (as on a real network) and die in the generator's namespace
	ip -n $GW route add 198.19.0.0/16 via 198.18.0.2
	ip -n $GEN route add blackhole 198.19.0.0/16
	# threaded NAPI on every hop (veth hands skbs to the peer's NAPI only
	# when the sender has no TSO); the gateway's client side is measured
	ns $GEN ethtool -K $IF_GEN tso off >/dev/null && ns $GW ethtool -K $IF_GWC gro on >/dev/null || return 1
	ns $GW ethtool -K $IF_GWS tso off >/dev/null && ns $SRV ethtool -K $IF_SRV gro on >/dev/null || return 1
	ns $SRV ethtool -K $IF_SRV tso off >/dev/null && ns $GW ethtool -K $IF_GWS gro on >/dev/null || return 1
	ns $GW ethtool -K $IF_GWC tso off >/dev/null && ns $GEN ethtool -K $IF_GEN gro on >/dev/null || return 1
	ip netns exec $GW sh -c "echo 1 > /sys/class/net/$IF_GWC/threaded; echo 1 > /sys/class/net/$IF_GWS/threaded" || return 1
	ip netns exec $SRV sh -c "echo 1 > /sys/class/net/$IF_SRV/threaded" || return 1
	ip netns exec $GEN sh -c "echo 1 > /sys/class/net/$IF_GEN/threaded" || return 1
	ip netns exec $GEN sh -c "for q in /sys/class/net/$IF_GEN/queues/tx-*; do echo 3 > \$q/xps_cpus; done" 2>/dev/null
	DST_MAC=$(ip -n $GW -br link show $IF_GWC | awk '{print $3}')
	ns $GEN ping -c1 -W2 198.18.1.2 >/dev/null || return 1
	nsenter --net=/run/netns/$SRV timeout 600 smtp-sink -u nobody -c 0.0.0.0:25 4096 >"$DIR/sink.out" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 50); do
		ns $SRV ss -Hltn 'sport = :25' | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

# the gateway's client-side NAPI threads, pinned to RX_CPU at SCHED_FIFO
napi_pids() {
	local pids p
	pids=$(ps -eo pid=,comm= | awk -v p="napi/$IF_GWC-" 'index($2, p) == 1 {print $1}')
	[ -n "$pids" ] || return 1
	for p in $pids; do taskset -pc $RX_CPU "$p" >/dev/null 2>&1; chrt -f -p 50 "$p" >/dev/null 2>&1; done
	for p in $(ps -eo pid=,comm= | awk -v a="napi/$IF_GWS-" -v b="napi/$IF_SRV-" -v c="napi/$IF_GEN-" \
		'index($2, a) == 1 || index($2, b) == 1 || index($2, c) == 1 {print $1}'); do
		taskset -pc $GEN_CPU "$p" >/dev/null 2>&1; chrt -f -p 40 "$p" >/dev/null 2>&1
	done
	echo $pids
}
runtime() { local p t=0; for p in "$@"; do t=$((t + $(awk '{print $1}' /proc/$p/schedstat))); done; echo $t; }
kv() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k {v = $2} END {print v}'; }

# measure LABEL: one row into $DIR/results
measure() {
	local label=$1 napi r0 r1 tx0 tx1 lpid spid out=$DIR/$1
	napi=$(napi_pids) || { echo "bench-gateway: no NAPI thread on $IF_GWC" >&2; return 1; }
	ns $GEN chrt -f 10 timeout $((SECONDS_ + 30)) "$LEGIT" -d 198.18.1.2 -s 198.18.0.2 \
		-t $((SECONDS_ + 2)) -i 50 >"$out.legit" 2>&1 &
	lpid=$!
	# keep the receiver's vCPU out of halt (see scripts/flood-lib.sh)
	timeout $((SECONDS_ + 5)) chrt -i 0 taskset -c $RX_CPU sh -c 'while :; do :; done' &
	spid=$!
	PIDS="$PIDS $lpid $spid"
	sleep 1
	r0=$(runtime $napi)
	tx0=$(cat /sys/class/net/$IF_GEN/statistics/tx_packets 2>/dev/null || ip netns exec $GEN cat /sys/class/net/$IF_GEN/statistics/tx_packets)
	ns $GEN nice -n -10 timeout $((SECONDS_ + 10)) taskset -c $GEN_CPU "$SYNFLOOD" -i $IF_GEN \
		--dst-mac "$DST_MAC" -d 198.18.1.2 -p 25 -s 198.19.0.0/16 --source-len 32 --fresh \
		-c $((2000000 * SECONDS_)) -t "$SECONDS_" >"$out.flood" 2>&1
	r1=$(runtime $napi)
	tx1=$(ip netns exec $GEN cat /sys/class/net/$IF_GEN/statistics/tx_packets)
	wait "$lpid"
	kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
	awk -v l="$label" -v r="$((r1 - r0))" -v tx="$((tx1 - tx0))" -v secs="$(kv "$out.flood" seconds)" \
		-v ok="$(kv "$out.legit" ok)" -v att="$(kv "$out.legit" attempts)" \
		-v med="$(kv "$out.legit" connect_ms_median)" -v p99="$(kv "$out.legit" connect_ms_p99)" \
		'BEGIN { if (secs <= 0 || tx <= 0) { print l, "FAILED"; exit 1 }
			printf "%s %.0f %.0f %d %d %s %s\n", l, tx / secs, r / tx, ok, att, med, p99 }' \
		>>"$DIR/results" || return 1
}

echo "== gateway mode: forwarding cost and a legitimate client under a spoofed SYN flood"
setup || { echo "bench-gateway: lab setup failed" >&2; exit 1; }
cat >"$DIR/gw.ini" <<'P'
[main]
ports = 25
servers = 198.18.1.0/24
[concurrency]
enabled = true
default = 10
P
cat >"$DIR/connlimit.rules" <<'R'
*filter
-A FORWARD -p tcp --syn -d 198.18.1.0/24 --dport 25 -m connlimit --connlimit-above 10 --connlimit-mask 32 -j DROP
COMMIT
R

measure router || rc=1
if mx load --gateway -i $IF_GWC --servers-on $IF_GWS -c "$DIR/gw.ini" --mode native \
	--state "$DIR/state.gz" >"$DIR/load.out" 2>&1; then
	measure mxlimit || rc=1
	mx status --json >"$DIR/status.json" 2>/dev/null
	mx unload --all >/dev/null 2>&1
else
	echo "bench-gateway: mxlimit load --gateway failed: $(head -2 "$DIR/load.out")" >&2
	rc=1
fi
if ns $GW iptables-restore <"$DIR/connlimit.rules" 2>"$DIR/ipt.err"; then
	measure connlimit || rc=1
	ns $GW iptables -F FORWARD
else
	echo "bench-gateway: iptables connlimit unavailable: $(head -1 "$DIR/ipt.err")" >&2
	rc=1
fi

printf '%-10s %10s %12s %10s %14s %10s %10s\n' row "flood pps" "gw ns/pkt" "x router" "legit ok" "p50 ms" "p99 ms"
base=$(awk '$1 == "router" {print $3}' "$DIR/results")
while read -r l pps ns_ ok att med p99; do
	[ "$pps" = FAILED ] && { echo "$l FAILED"; continue; }
	printf '%-10s %10s %12s %10s %14s %10s %10s\n' "$l" "$pps" "$ns_" \
		"$(awk -v a="$ns_" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
		"$ok/$att" "$med" "$p99"
done <"$DIR/results"
if [ -s "$DIR/status.json" ]; then
	python3 - "$DIR/status.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counters"]
print("mxlimit row: %d SYNs admitted, %d handshakes proven, %d flows counted at the end, "
      "%d handshakes pending (spoofed: never counted)" % (
          c["admitted"], c["gw_established"], d["active_connections"],
          d["gateway"]["handshakes_pending"]))
PY
fi
exit $rc
