#!/bin/bash
# Three mxlimit nodes (daemon, proxy, policyd) and one Redis ([redis],
# docs/cluster.md), each in its own namespace on one bridge: a verdict on
# one node reaches the others' kernels; an allowlisted prefix on one node;
# a node that was down catches up exactly (blocks and an unblock); a
# trimmed stream; [rate_rcpt_host] counted across the fleet by the proxies
# and policyd, per node when Redis is down; Redis stopped (kernel blocks
# stay, local verdicts queued and published after), restarted empty, and
# black-holed (RCPT bounded by the timeout); a fresh node.  Redis is
# started here by hand, never as a service.
source "$(dirname "$0")/../lib.sh"
need_root "cluster lab"
command -v redis-server >/dev/null || { fail "redis-server is missing (make deps)"; exit 1; }

ID=$TEST_ID
DIR=$(mktemp -d /tmp/mxcluster-XXXXXX)
NS_LAN=mxkl-$ID NS_RDS=mxkr-$ID NS_CLI=mxkc-$ID
RDS=198.18.2.1 CLI=198.18.2.50 ALLOW=198.18.2.60
PREFIX="mxlt$ID:"
PIDS=""
declare -A NODE_PID

cleanup() {
	local p n
	for p in $PIDS ${NODE_PID[*]:-}; do kill "$p" 2>/dev/null; done
	# bounded: whatever has not exited after 2 s (ASan's leak check) is killed
	for _ in $(seq 40); do
		for p in $PIDS ${NODE_PID[*]:-}; do kill -0 "$p" 2>/dev/null && break; p=; done
		[ -z "$p" ] && break
		sleep 0.05
	done
	for p in $PIDS ${NODE_PID[*]:-}; do kill -9 "$p" 2>/dev/null; done
	for n in 1 2 3; do
		nsenter --net=/run/netns/mxk$n-$ID "$MXLIMIT" --pin-dir "/sys/fs/bpf/mxlimit-test-$ID-n$n" \
			unload --all >/dev/null 2>&1
		ip netns del "mxk$n-$ID" 2>/dev/null
		rm -rf "/sys/fs/bpf/mxlimit-test-$ID-n$n"
		rm -f "/run/mxlimit/policy-$(echo "/sys/fs/bpf/mxlimit-test-$ID-n$n" | tr / _)" \
			"/run/mxlimit/cluster-$(echo "/sys/fs/bpf/mxlimit-test-$ID-n$n" | tr / _)"
	done
	ip netns del "$NS_RDS" 2>/dev/null
	ip netns del "$NS_CLI" 2>/dev/null
	ip netns del "$NS_LAN" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
on_exit cleanup

# ---- the lab: a bridge in NS_LAN, one veth to every other namespace ----
port_to_lan() { # NS TAG ADDR
	local a=k$2$ID b=l$2$ID
	a=${a:0:15} b=${b:0:15}
	ip netns add "$1" || return 1
	ip -n "$1" link set lo up
	ip link add "$a" netns "$1" type veth peer name "$b" netns "$NS_LAN" || return 1
	ip -n "$NS_LAN" link set "$b" master br0 up
	ip -n "$1" addr add "$3/15" dev "$a"
	ip -n "$1" link set "$a" up
	eval "IF_$2=$a"
}
setup() {
	ip netns add "$NS_LAN" || return 1
	ip -n "$NS_LAN" link add br0 type bridge || return 1
	ip -n "$NS_LAN" link set br0 up
	port_to_lan "$NS_RDS" r $RDS || return 1
	port_to_lan "$NS_CLI" c $CLI || return 1
	for a in $ALLOW 198.18.2.51 198.18.2.52 198.18.2.53; do ip -n "$NS_CLI" addr add $a/15 dev "$IF_c"; done
	for n in 1 2 3; do port_to_lan "mxk$n-$ID" $n 198.18.2.1$n || return 1; done
	ip netns exec "$NS_CLI" ping -c1 -W2 198.18.2.13 >/dev/null 2>&1
}
setup || { fail "lab setup"; exit 1; }

# ---- Redis, started by hand in its namespace ----
RDS_PID=
redis_start() {
	nsenter --net=/run/netns/$NS_RDS redis-server --bind $RDS --port 6379 --save '' \
		--appendonly no --protected-mode no --dir "$DIR" --daemonize no \
		>>"$DIR/redis.log" 2>&1 &
	RDS_PID=$!
	PIDS="$PIDS $RDS_PID"
	for _ in $(seq 50); do rcli PING 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
	return 1
}
redis_stop() { kill "$RDS_PID" 2>/dev/null; wait "$RDS_PID" 2>/dev/null; }
rcli() { ip netns exec "$NS_RDS" redis-cli -h $RDS -p 6379 --raw "$@"; }

# ---- nodes ----
policy() { # N: node N's policy (node 3 allowlists $ALLOW)
	cat <<P
[main]
ports = 25
[concurrency]
enabled = true
max = 10
$([ "$1" = 3 ] && echo "$ALLOW = 0")
[rate_rcpt_host]
enabled = true
default = 10/1m
[penalty]
rate_rcpt_host = block 10m
[proxy]
listen = 198.18.2.1$1:25
backend = 127.0.0.1:2526
verdict_socket = $DIR/n$1.sock
[policyd]
listen = unix:$DIR/pd$1.sock
verdict_socket = $DIR/n$1.sock
[redis]
host = $RDS
port = 6379
prefix = $PREFIX
timeout = 200ms
P
}
nx() { local n=$1; shift; nsenter --net=/run/netns/mxk$n-$ID "$@"; }
mx() { local n=$1; shift; nx "$n" "$MXLIMIT" --pin-dir "/sys/fs/bpf/mxlimit-test-$ID-n$n" "$@"; }
node_start() { # N [daemon options]: the daemon of node N
	local n=$1 c; shift
	c=$(grep -c 'daemon ready' "$DIR/n$n.log" 2>/dev/null)
	# nsenter execs mxlimit: $! is the daemon itself
	nsenter --net=/run/netns/mxk$n-$ID "$MXLIMIT" --pin-dir "/sys/fs/bpf/mxlimit-test-$ID-n$n" \
		daemon -c "$DIR/n$n.ini" --socket "$DIR/n$n.sock" --state "$DIR/n$n.state.gz" \
		--metrics 127.0.0.1:9433 --node "n$n" -v "$@" >>"$DIR/n$n.log" 2>&1 &
	NODE_PID[$n]=$!
	for _ in $(seq 100); do
		[ "$(grep -c 'daemon ready' "$DIR/n$n.log")" -gt "${c:-0}" ] && return 0
		sleep 0.05
	done
	return 1
}
node_stop() { kill "${NODE_PID[$1]}" 2>/dev/null; wait "${NODE_PID[$1]}" 2>/dev/null; }
# v N LINE: one verdict-socket request to node N, its reply
v() {
	/usr/bin/python3 - "$DIR/n$1.sock" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n"); print(s.makefile().readline().strip())
PY
}
# blocked N ADDR: node N's kernel holds a block or penalty for ADDR
blocked() { v "$1" "QUERY $2" | grep -Eq 'block=[1-9]|penalty=[1-9]'; }
unblocked() { v "$1" "QUERY $2" | grep -q 'block=0 penalty=0'; }
metric_py() {
	nx "$1" /usr/bin/python3 -c '
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9433/metrics", timeout=5).read().decode()
for l in t.splitlines():
    if l.split(" ")[0] == sys.argv[1]: print(l.split(" ")[1])' "$2"
}
# syn N SRC: a TCP connect from SRC (client namespace) to node N's port 25
syn() {
	ip netns exec "$NS_CLI" /usr/bin/python3 - "$2" "198.18.2.1$1" <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1.0); s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], 25)); print("ok")
except socket.timeout:
    print("timeout")
except OSError:
    print("refused")
PY
}
# rcpts N SRC COUNT [TAG]: one SMTP session from SRC through node N's proxy with
# COUNT recipients; prints their reply codes ("250 250 450")
rcpts() {
	ip netns exec "$NS_CLI" /usr/bin/python3 - "$2" "198.18.2.1$1" "$3" "${4:-x}" <<'PY'
import smtplib, sys
src, dst, n, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = smtplib.SMTP(timeout=10, source_address=(src, 0))
s.connect(dst, 25); s.ehlo("client.example"); s.mail("sender@example.org")
print(" ".join(str(s.rcpt("r%d-%s@example.com" % (i, tag))[0]) for i in range(n)))
try:
    s.quit()
except Exception:
    pass
PY
}
# pol N SRC COUNT TAG: COUNT policy requests (one RCPT each, one session) to
# node N's mxlimit-policyd; prints the actions' first words ("DUNNO 450")
pol() {
	/usr/bin/python3 - "$DIR/pd$1.sock" "$2" "$3" "$4" <<'PY'
import socket, sys
path, ip, n, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
f = s.makefile("rb")
out = []
for i in range(n):
    req = ("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
           "client_name=unknown\nsender=s@example.org\nrecipient=r%d-%s@example.com\n"
           "instance=%s.%d\n\n" % (ip, i, tag, tag, i))
    s.sendall(req.encode())
    line = f.readline().decode().strip(); f.readline()
    out.append(line.split("=", 1)[1].split(" ")[0])
print(" ".join(out))
PY
}
wait_for() { local n=$1 i; shift; for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.05; done; "$@"; }
all_blocked() { local a=$1 n; shift; for n in "$@"; do blocked "$n" "$a" || return 1; done; }
all_connected() { local n; for n in 1 2 3; do grep -q 'redis.*connected' "$DIR/n$n.log" || return 1; done; }
redis_down_on() { [ "$(metric_py "$1" mxlimit_redis_up)" = 0 ]; }
in_active() { rcli ZSCORE "${PREFIX}v:active" "$1" | grep -q '^[0-9]'; }
logged() { grep -q "$2" "$DIR/n$1.log"; }
lifted() { unblocked 1 $CLI && unblocked 3 $CLI; }

check "redis-server starts in its namespace" redis_start
for n in 1 2 3; do
	policy $n >"$DIR/n$n.ini"
	nsenter --net=/run/netns/mxk$n-$ID timeout 300 smtp-sink -u nobody 127.0.0.1:2526 64 \
		>"$DIR/sink$n.out" 2>&1 &
	PIDS="$PIDS $!"
	eval "nif=\$IF_$n"
	if ! mx $n load -i "$nif" -c "$DIR/n$n.ini" --state "$DIR/n$n.state.gz" >"$DIR/load$n.out" 2>&1; then
		fail "load on node $n: $(head -3 "$DIR/load$n.out" | tr '\n' ' ')"
		exit 1
	fi
	check "node $n: daemon starts" node_start $n
	nsenter --net=/run/netns/mxk$n-$ID "$MXPROXY" -c "$DIR/n$n.ini" >"$DIR/proxy$n.out" 2>&1 &
	PIDS="$PIDS $!"
	nsenter --net=/run/netns/mxk$n-$ID "$MXPOLICYD" -c "$DIR/n$n.ini" >"$DIR/policyd$n.out" 2>&1 &
	PIDS="$PIDS $!"
done
proxies_up() { local n; for n in 1 2 3; do [ "$(syn $n 198.18.2.52)" = ok ] || return 1; done; }
check "the three proxies listen" wait_for 100 proxies_up
check "mxlimit check accepts the [redis] section and shows it" \
	grep -q "^redis: $RDS:6379, db 0, prefix $PREFIX, timeout 200ms" <<<"$("$MXLIMIT" check -c "$DIR/n1.ini" 2>/dev/null)"
check "all three connected" wait_for 100 all_connected
check_eq "before: the sender reaches node 2" "$(syn 2 $CLI)" ok

# ---- 1. a penalty on node 1 reaches nodes 2 and 3 ----
t0=$(date +%s%N)
check "PENALIZE on node 1" grep -q "^OK penalized" <<<"$(v 1 "PENALIZE $CLI 600 reason=rate_rcpt_host")"
if wait_for 100 all_blocked $CLI 2 3; then
	ok "nodes 2 and 3 hold the penalty"
	echo "# propagation: $(( ($(date +%s%N) - t0) / 1000000 )) ms (poll interval 200 ms)"
else
	fail "nodes 2 and 3 hold the penalty"
fi
left=$(v 2 "QUERY $CLI" | sed -n 's/.*penalty=\([0-9]*\).*/\1/p')
check "node 2: remaining time from Redis's clock (590-600 s, got $left)" [ "${left:-0}" -ge 590 -a "${left:-0}" -le 600 ]
check_eq "node 2's kernel refuses the sender's SYN" "$(syn 2 $CLI)" timeout
check_eq "node 3's kernel refuses the sender's SYN" "$(syn 3 $CLI)" timeout
check "the reason crossed too" grep -q "reason=rate_rcpt_host" <<<"$(v 3 "QUERY $CLI")"
check "node 1 published one verdict" [ "$(metric_py 1 mxlimit_cluster_verdicts_published_total)" = 1 ]
check "node 2 applied one" [ "$(metric_py 2 'mxlimit_cluster_verdicts_applied_total{op="sanction"}')" = 1 ]
check "peers seen: 3" [ "$(metric_py 2 mxlimit_cluster_peers)" = 3 ]
check "redis up on node 3" [ "$(metric_py 3 mxlimit_redis_up)" = 1 ]
check "node name in the metrics" [ "$(metric_py 3 'mxlimit_cluster_node_info{node="n3"}')" = 1 ]
status_ok() { mx 2 status | grep -Eq "^cluster: node n2, redis $RDS:6379 up, peers 3, cursor lag"; }
check "status shows the cluster (node, Redis up, peers)" wait_for 60 status_ok
check "status --json too" bash -c "nsenter --net=/run/netns/mxk2-$ID '$MXLIMIT' --pin-dir /sys/fs/bpf/mxlimit-test-$ID-n2 status --json | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"cluster\"]; assert c[\"node\"] == \"n2\" and c[\"redis_up\"] and c[\"peers\"] == 3, c'"

# propagation, measured by the daemons on Redis's clock (publication to the
# poll that read it): 40 blocks on node 1, 20-80 ms apart; reported, not judged
/usr/bin/python3 - "$DIR/n1.sock" <<'PY'
import random, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
f = s.makefile("rb")
for i in range(40):
    s.sendall(b"BLOCK 192.0.2.%d 300 reason=prop\n" % (i + 1)); f.readline()
    time.sleep(random.uniform(0.02, 0.08))
PY
prop_done() { [ "$(grep -c 'cluster: b 192.0.2.[0-9]*/*[0-9]* from n1, published' "$DIR/n2.log")" -ge 40 ]; }
if wait_for 100 prop_done; then
	echo "# propagation over 40 verdicts, node 1 -> node 2 (ms): $(grep -o 'cluster: b 192.0.2.[0-9/]* from n1, published [0-9]* ms' "$DIR/n2.log" |
		awk '{print $(NF-1)}' | sort -n | awk '{a[NR]=$1} END {printf "p50 %d, p99 %d, max %d", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)], a[NR]}')"
	ok "40 verdicts from node 1 all reached node 2"
else
	fail "40 verdicts from node 1 all reached node 2"
fi

# ---- 2. allowlisted on node 3 only ----
v 1 "BLOCK $ALLOW/32 600 reason=test" >/dev/null
check "a block of node 3's allowlisted address reaches node 2" wait_for 100 blocked 2 $ALLOW
check "node 3 does not apply it" unblocked 3 $ALLOW
check_eq "node 3 still admits it" "$(syn 3 $ALLOW)" ok
check "node 3 counts it as ignored" \
	[ "$(metric_py 3 'mxlimit_cluster_verdicts_ignored_total{reason="allowlisted"}')" = 1 ]

# ---- 3. node 3 down while blocks and an unblock happen: exact catch-up ----
v 1 "BLOCK 198.51.100.40 600" >/dev/null
wait_for 100 blocked 3 198.51.100.40
node_stop 3
v 1 "BLOCK 198.51.100.1 600" >/dev/null
v 2 "BLOCK 198.51.100.0/28 900 reason=scan" >/dev/null
v 1 "PENALIZE 198.51.100.3 600 limit=1" >/dev/null
v 2 "UNBLOCK 198.51.100.40" >/dev/null
check "node 3 restarts" node_start 3
check "node 3 caught up: the two blocks and the penalty" \
	wait_for 100 all_blocked 198.51.100.1 3
check "  ... the /28 from node 2" blocked 3 198.51.100.9
check "  ... the penalty" grep -q "penalty=[1-9].*limit=1" <<<"$(v 3 'QUERY 198.51.100.3')"
check "  ... and the unblock" unblocked 3 198.51.100.40
check "  ... from its cursor (no snapshot)" grep -q "resuming the stream after" "$DIR/n3.log"

# ---- 4. the stream trimmed while node 3 is down ----
node_stop 3
v 1 "BLOCK 198.51.100.20 600" >/dev/null
rcli XTRIM "${PREFIX}v:stream" MAXLEN 0 >/dev/null
check "node 3 restarts after the trim" node_start 3
check "node 3 resyncs from the active set" wait_for 100 blocked 3 198.51.100.20
check "  ... and says why" [ "$(metric_py 3 'mxlimit_cluster_resyncs_total{reason="trimmed"}')" = 1 ]
check "  ... still holding the earlier verdicts" blocked 3 198.51.100.1

# ---- [rate_rcpt_host] default = 10/1m counted across the fleet ----
S=198.18.2.51
check_eq "4 recipients through node 1" "$(rcpts 1 $S 4 a)" "250 250 250 250"
check_eq "4 more through node 2" "$(rcpts 2 $S 4 b)" "250 250 250 250"
check_eq "2 more through node 3" "$(rcpts 3 $S 2 c)" "250 250"
check_eq "the 11th is refused, here on node 1" "$(rcpts 1 $S 1 d)" "450"
check "node 1's [penalty] block reaches nodes 2 and 3" wait_for 100 all_blocked $S 2 3
check_eq "  ... whose kernels refuse the sender's SYN" "$(syn 3 $S)" timeout
kill -USR1 "$(pgrep -f "mxlimit-proxy -c $DIR/n3.ini")"
check "node 3's proxy counted in Redis, no fallback" \
	wait_for 40 grep -q "counted in redis 2, per node (redis unusable) 0" "$DIR/proxy3.out"
check "  ... one window key for the sender" \
	bash -c "ip netns exec $NS_RDS redis-cli -h $RDS --raw GET '${PREFIX}rc:h|$S' | grep -qx 10"

# ---- the same counters from mxlimit-policyd (and with the proxies: one key)
P=198.18.2.54
pd_up() { [ -S "$DIR/pd1.sock" ] && [ -S "$DIR/pd2.sock" ]; }
check "policyd listens on nodes 1 and 2" wait_for 100 pd_up
check_eq "policyd: 6 recipients on node 1" "$(pol 1 $P 6 a)" "DUNNO DUNNO DUNNO DUNNO DUNNO DUNNO"
check_eq "policyd: 4 more on node 2, the 11th refused there" "$(pol 2 $P 5 b)" "DUNNO DUNNO DUNNO DUNNO 450"
check "  ... and node 2's [penalty] block reaches node 3" wait_for 100 blocked 3 $P
check "policyd of node 2 counted in Redis" bash -c "kill -USR1 $(pgrep -f "mxlimit-policyd -c $DIR/n2.ini"); sleep 0.3; grep -q 'counted in redis 5, per node (redis unusable) 0' $DIR/policyd2.out"

# ---- 5. Redis down: the kernels keep enforcing, verdicts wait ----
redis_stop
check "node 1 notices Redis is down" wait_for 100 redis_down_on 1
status_down() { mx 1 status | grep -q "^cluster: node n1, redis $RDS:6379 DOWN"; }
check "  ... and status says so" wait_for 60 status_down
check_eq "node 2 still refuses the penalized sender" "$(syn 2 $CLI)" timeout
check "a verdict on node 1 is applied there at once" grep -q "^OK blocked" <<<"$(v 1 'BLOCK 203.0.113.7 600')"
check "  ... and waits in the outbox" [ "$(metric_py 1 mxlimit_cluster_outbox_depth)" = 1 ]
D=198.18.2.52
check_eq "Redis down: recipients counted per node (10 on node 1, the 11th refused)" \
	"$(rcpts 1 $D 11 a | awk '{print $1, $10, $11}')" "250 250 450"
check_eq "  ... node 2 counts its own 10" "$(rcpts 2 $D 2 b)" "250 250"
# ---- 6. Redis back, empty: detected, repaired, the queued verdict published
check "redis-server restarts (empty)" redis_start
check "the queued verdict reaches node 2 after the heal" wait_for 200 blocked 2 203.0.113.7
check "node 1 saw the reset" wait_for 100 logged 1 'Redis lost its data'
check "the active set is rebuilt (node 2's /28 is in it again)" \
	wait_for 100 in_active "b|198.51.100.0/28"
check "  ... node 1's penalty too" in_active "p|$CLI"
not_active() { ! in_active "$1"; }
check "  ... but not the block node 2 lifted" not_active "b|198.51.100.40"
check "and node 2 counts a reset resync" \
	[ "$(metric_py 2 'mxlimit_cluster_resyncs_total{reason="reset"}')" -ge 1 ]

# ---- Redis black-holed (its packets dropped): a RCPT waits at most the
# command timeout, then this node's counter decides; the kernels enforce
B=198.18.2.53
ip netns exec "$NS_RDS" nft 'add table inet mxkbh; add chain inet mxkbh in { type filter hook input priority 0; }; add rule inet mxkbh in tcp dport 6379 drop' ||
	fail "nft in the Redis namespace"
t0=$(date +%s%N)
check_eq "black hole: the RCPT is answered (per-node fallback)" "$(rcpts 2 $B 1 a)" 250
echo "# RCPT with Redis black-holed: $(( ($(date +%s%N) - t0) / 1000000 )) ms for the session (timeout 200ms)"
check "  ... after its command timed out" grep -q "redis $RDS:6379: timeout: no reply in time" "$DIR/proxy2.out"
check_eq "  ... node 2's kernel still refuses the blocked sender" "$(syn 2 $S)" timeout
check "a verdict made during the black hole is applied locally" grep -q "^OK blocked" <<<"$(v 2 'BLOCK 203.0.113.9 600')"
ip netns exec "$NS_RDS" nft delete table inet mxkbh
check "  ... and reaches node 1 after the heal" wait_for 200 blocked 1 203.0.113.9

# ---- 7. a fresh node (no cursor file) takes the whole active set ----
node_stop 3
rm -f "$DIR/n3.state.gz.cluster"
mx 3 unblock 198.51.100.1 >/dev/null 2>&1
check "node 3 starts fresh" node_start 3
check "it applies the active set (a startup resync)" wait_for 100 blocked 3 198.51.100.1
check "  ... including node 2's /28" blocked 3 198.51.100.9
check "  ... counted" [ "$(metric_py 3 'mxlimit_cluster_resyncs_total{reason="startup"}')" -ge 1 ]

# an unblock on node 2 lifts the penalty everywhere
v 2 "UNBLOCK $CLI" >/dev/null
check "an unblock on node 2 lifts node 1's penalty on nodes 1 and 3" wait_for 100 lifted
check_eq "node 3 admits the sender again" "$(syn 3 $CLI)" ok
exit $T_FAILED
