#!/bin/bash
# make demo-cluster: three mail nodes and one Redis in a namespace lab
# (docs/cluster.md).  Each node runs smtp-sink behind mxlimit-proxy, with
# mxlimit loaded on its interface and `mxlimit daemon --node`.  A sender
# spreads recipients over the three nodes: the fleet counts them together
# ([rate_rcpt_host] default = 10/1m), the 11th is refused, that node's
# [penalty] blocks the sender, and the block crosses to the other nodes'
# kernels.  Everything is created with unique names and removed at the
# end, also on failure or Ctrl-C; Redis is started here, not as a service.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
ID=$$
LAN=mxdcl-$ID RDS=mxdcr-$ID CLI=mxdcc-$ID
TMP=$(mktemp -d /tmp/mxlimit-demo-cluster-XXXXXX)
MX="$ROOT/$BUILD/mxlimit"
PIDS=""
SPAMMER=198.18.3.50

. "$ROOT/scripts/demo-lib.sh"
pin() { echo "/sys/fs/bpf/mxlimit-demo-$ID-n$1"; }
node() { local n=$1; shift; nsenter --net=/run/netns/mxdc$n-$ID "$@"; }
cleanup() {
	local n
	demo_stop $PIDS
	for n in 1 2 3; do
		node $n "$MX" --pin-dir "$(pin $n)" unload --all >/dev/null 2>&1
		ip netns del "mxdc$n-$ID" 2>/dev/null
		rm -rf "$(pin $n)"
		rm -f "/run/mxlimit/policy-$(pin $n | tr / _)" "/run/mxlimit/cluster-$(pin $n | tr / _)"
	done
	for ns in $RDS $CLI $LAN; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

demo_setup demo-cluster

say "lab: a bridge; Redis 198.18.3.1; nodes 198.18.3.11-13; a sender $SPAMMER"
{ ip netns add $LAN && ip -n $LAN link add br0 type bridge && ip -n $LAN link set br0 up; } ||
	demo_lab_failed "the bridge namespace"
join() { # NS TAG ADDR
	{ ip netns add "$1" && ip -n "$1" link set lo up &&
	  ip link add "dc$2$ID" netns "$1" type veth peer name "dl$2$ID" netns $LAN &&
	  ip -n $LAN link set "dl$2$ID" master br0 up &&
	  ip -n "$1" addr add "$3/16" dev "dc$2$ID" &&
	  ip -n "$1" link set "dc$2$ID" up; } || demo_lab_failed "namespace $1 on the bridge"
}
join $RDS r 198.18.3.1
join $CLI c $SPAMMER
for n in 1 2 3; do join "mxdc$n-$ID" $n 198.18.3.1$n; done
ip netns exec $CLI ping -c1 -W2 198.18.3.13 >/dev/null

nsenter --net=/run/netns/$RDS timeout 300 redis-server --bind 198.18.3.1 --port 6379 --save '' \
	--appendonly no --protected-mode no --dir "$TMP" --daemonize no >"$TMP/redis.log" 2>&1 &
PIDS="$PIDS $!"
for n in 1 2 3; do
	cat >"$TMP/n$n.ini" <<P
[main]
ports = 25
[concurrency]
enabled = true
max = 10
[rate_rcpt_host]
enabled = true
default = 10/1m
[penalty]
rate_rcpt_host = block 10m
[proxy]
listen = 198.18.3.1$n:25
backend = 127.0.0.1:2526
verdict_socket = $TMP/n$n.sock
[redis]
host = 198.18.3.1
port = 6379
timeout = 200ms
P
done
say "every node's policy (node 1's shown)"
cat "$TMP/n1.ini"

say "on each node: smtp-sink, mxlimit load, mxlimit daemon --node nN, mxlimit-proxy"
# started with nsenter itself (it execs): $! is the program, so the
# cleanup's kill reaches it
for n in 1 2 3; do
	nsenter --net=/run/netns/mxdc$n-$ID timeout 300 smtp-sink -u nobody 127.0.0.1:2526 64 >"$TMP/sink$n.out" 2>&1 &
	PIDS="$PIDS $!"
	node $n "$MX" --pin-dir "$(pin $n)" load -i "dc$n$ID" -c "$TMP/n$n.ini" \
		--state "$TMP/n$n.state.gz" >/dev/null || demo_lab_failed "mxlimit load on node $n"
	nsenter --net=/run/netns/mxdc$n-$ID timeout 300 "$MX" --pin-dir "$(pin $n)" daemon -c "$TMP/n$n.ini" --socket "$TMP/n$n.sock" \
		--state "$TMP/n$n.state.gz" --metrics 127.0.0.1:9433 --node "n$n" >"$TMP/d$n.log" 2>&1 &
	PIDS="$PIDS $!"
	nsenter --net=/run/netns/mxdc$n-$ID timeout 300 "$ROOT/$BUILD/mxlimit-proxy" -c "$TMP/n$n.ini" >"$TMP/p$n.log" 2>&1 &
	PIDS="$PIDS $!"
done
for _ in $(seq 100); do
	[ "$(cat "$TMP"/d?.log | grep -c 'redis.*connected')" -ge 3 ] && break
	sleep 0.1
done
grep -h "cluster:\|redis.*connected" "$TMP"/d?.log

# send N COUNT: one SMTP session through node N with COUNT recipients;
# also appended to $TMP/sends
send() {
	ip netns exec $CLI python3 - "198.18.3.1$1" "$2" "$1" <<'PY' | tee -a "$TMP/sends"
import smtplib, sys
dst, n, node = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    s = smtplib.SMTP(dst, 25, timeout=5); s.ehlo("spam.example"); s.mail("bulk@spam.example")
    codes = [s.rcpt("user%d-n%s@example.com" % (i, node))[0] for i in range(n)]
    print("  via node %s: %d recipients -> %s" % (node, n, " ".join(map(str, codes))))
    s.quit()
except OSError as e:
    print("  via node %s: no connection (%s)" % (node, e.__class__.__name__))
PY
}
say "the sender spreads recipients over the fleet: 4 + 4 + 3 (limit: 10 per minute)"
send 1 4
send 2 4
t0=$(date +%s%N)
send 3 3
say "node 3 refused the 11th (450) and blocked the sender; the block crosses the fleet"
for n in 1 2 3; do
	for _ in $(seq 40); do
		node $n "$MX" --pin-dir "$(pin $n)" blocks | grep -q "$SPAMMER" && break
		sleep 0.05
	done
done
echo "  every node holds the block $(( ($(date +%s%N) - t0) / 1000000 )) ms after the 11th recipient"
for n in 1 2 3; do
	b=$(node $n "$MX" --pin-dir "$(pin $n)" blocks | grep "$SPAMMER")
	echo "  node $n: $b"
	[ -n "$b" ] && blocked="${blocked:-}$n"
done
say "the sender tries again: every node's kernel drops its SYNs"
send 1 1
send 2 1
say "mxlimit status on node 2 (its cluster line)"
node 2 "$MX" --pin-dir "$(pin 2)" status | grep '^cluster:' | tee "$TMP/cluster.out"
say "node 2's cluster metrics"
node 2 python3 -c '
import urllib.request
for l in urllib.request.urlopen("http://127.0.0.1:9433/metrics", timeout=5).read().decode().splitlines():
    if l.startswith(("mxlimit_cluster_", "mxlimit_redis_up")) and not l.startswith("#"): print("  " + l)'

say "what the demo expects"
demo_expect "nodes 1 and 2 accepted 4 recipients each" \
	test "$(grep -cE '^  via node [12]: 4 recipients -> 250 250 250 250$' "$TMP/sends")" = 2
demo_expect "node 3 accepted 2 and refused the fleet's 11th recipient with 450" \
	grep -qE '^  via node 3: 3 recipients -> 250 250 450$' "$TMP/sends"
demo_expect "the block reached all three nodes' kernels" test "${blocked:-}" = 123
demo_expect "the sender's next connections were dropped by nodes 1 and 2" \
	test "$(grep -cE '^  via node [12]: no connection' "$TMP/sends")" = 2
demo_expect "node 2 sees Redis up and 3 peers" grep -qE 'redis [^ ]+ up, peers 3' "$TMP/cluster.out"
say "done: tearing the lab down"
demo_end
