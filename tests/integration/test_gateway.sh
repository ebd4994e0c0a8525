#!/bin/bash
# Gateway mode in a client ns -- gateway ns -- two server ns lab: mxlimit on
# the gateway (no local sockets) counts flows whose handshake it sees,
# limits span both servers, closes every way count down, spoofed SYNs hold
# nothing, flows cut by a link that drops everything expire with no
# userspace process, the servers' own outbound connections never count,
# asymmetric paths are reported, IPv4 and IPv6.
# suite-variant: MXLIMIT_DISABLE=gw_timer
source "$(dirname "$0")/../lib.sh"
need_root "gateway lab"

GW=mxs-g$TEST_ID
CL=mxc-$TEST_ID
SA=mxs-a$TEST_ID
SB=mxs-b$TEST_ID
PIN=/sys/fs/bpf/mxlimit-test-$TEST_ID
DIR=$(mktemp -d /tmp/mxlimit-gw-XXXXXX)
IF_C=$(echo "gc$TEST_ID" | cut -c1-15)  # gateway side, towards the client
IF_A=$(echo "ga$TEST_ID" | cut -c1-15)  # gateway side, towards server A
IF_B=$(echo "gb$TEST_ID" | cut -c1-15)
PIDS=""
CLI4=198.18.0.2 CLI6=fd00:10::2
SA4=198.18.1.2 SA6=fd00:11::2
SB4=198.18.2.2 SB6=fd00:12::2
HERE=$(cd "$(dirname "$0")" && pwd)

teardown() {
	local p
	[ -n "${CLIENT_PID:-}" ] && kill "$CLIENT_PID" 2>/dev/null
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	nsenter --net=/run/netns/$GW "$MXLIMIT" --pin-dir "$PIN" unload --all >/dev/null 2>&1
	for ns in $GW $CL $SA $SB; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$PIN" "$DIR"
	rm -f "/run/mxlimit/policy-$(echo "$PIN" | tr / _)"
}
on_exit teardown

# ns_link NS1 IF1 ADDR4 ADDR6 NS2 IF2 ADDR4 ADDR6: a veth pair between two namespaces
ns_link() {
	ip link add "$2" netns "$1" type veth peer name "$6" netns "$5" || return 1
	ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$1" addr add "$4/64" dev "$2" nodad
	ip -n "$5" addr add "$7/24" dev "$6" && ip -n "$5" addr add "$8/64" dev "$6" nodad
	ip -n "$1" link set "$2" up && ip -n "$5" link set "$6" up
}

setup() {
	local ns
	for ns in $GW $CL $SA $SB; do ip netns add "$ns" || return 1; ip -n "$ns" link set lo up; done
	ns_link $CL c0 $CLI4 $CLI6 $GW "$IF_C" 198.18.0.1 fd00:10::1 || return 1
	ns_link $SA a0 $SA4 $SA6 $GW "$IF_A" 198.18.1.1 fd00:11::1 || return 1
	ns_link $SB b0 $SB4 $SB6 $GW "$IF_B" 198.18.2.1 fd00:12::1 || return 1
	ip netns exec $GW sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	ip -n $CL route add default via 198.18.0.1 && ip -n $CL -6 route add default via fd00:10::1
	ip -n $SA route add default via 198.18.1.1 && ip -n $SA -6 route add default via fd00:11::1
	ip -n $SB route add default via 198.18.2.1 && ip -n $SB -6 route add default via fd00:12::1
	# a second client address, on the same link
	ip -n $CL addr add 198.18.0.3/24 dev c0
	# the gateway's resets (XDP_TX) reach the client only if the client's
	# veth runs an XDP program itself (docs/design.md "Labs")
	ip -n $CL link set dev c0 xdp obj "$ROOT/$BUILD/bpf/bare.bpf.o" sec xdp || return 1
	ip netns exec $CL ping -c1 -W2 $SA4 >/dev/null 2>&1 || return 1
	ip netns exec $CL ping -c1 -W2 $SB4 >/dev/null 2>&1 || return 1
	for _ in $(seq 50); do
		ip netns exec $CL ping -6 -c1 -W1 $SB6 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
setup || { fail "lab setup"; exit 1; }

serve() { # NS PORT...: a holding server
	local ns=$1; shift
	nsenter --net=/run/netns/$ns python3 -u "$HERE/lab_server.py" --max-seconds 300 "$@" \
		>"$DIR/server-$ns.out" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 50); do grep -q listening "$DIR/server-$ns.out" && return 0; sleep 0.1; done
	return 1
}
serve $SA 25 143 && serve $SB 25 || { fail "servers"; exit 1; }
serve $CL 25 || { fail "client-side server"; exit 1; }

coproc CLIENT { nsenter --net=/run/netns/$CL python3 -u "$HERE/lab_client.py"; }
CLIENT_PID=$CLIENT_PID
cmd() {
	local line
	echo "$*" >&"${CLIENT[1]}"
	if read -r -t 30 line <&"${CLIENT[0]}"; then echo "${line%% *}"; else echo no-reply; fi
}
# open NAME SRC DST [PORT [TIMEOUT]]
open_() { cmd open "$1" "$2" "$3" "${4:-25}" "${5:-2}"; }

mx() { nsenter --net=/run/netns/$GW "$MXLIMIT" --pin-dir "$PIN" "$@"; }
status_json() { mx status --json; }
jfield() { status_json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
qactive() { mx query "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['concurrency']['active'])"; }
active_is() { [ "$(jfield "d['active_connections']")" = "$1" ]; }
wait_for() {
	local n=$1 i; shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
	"$@"
}

cat >"$DIR/gw.ini" <<'P'
[main]
ports = 25,143
servers = 198.18.1.0/24, 198.18.2.0/24, fd00:11::/64, fd00:12::/64
flow_idle_smtp = 10s
[concurrency]
enabled = true
max = 3
P

if ! out=$(mx load --gateway -i "$IF_C" --servers-on "$IF_A" --servers-on "$IF_B" \
	-c "$DIR/gw.ini" --state "$DIR/state.gz" 2>&1); then
	echo "not ok - load --gateway: $(echo "$out" | head -3 | tr '\n' ' ')"
	exit 1
fi
ok "load --gateway"
echo "$out" | sed 's/^/# /'

st=$(mx status)
check "status says gateway mode" grep -q "(gateway mode)" <<<"$st"
check "status shows the clients' side" grep -q "$IF_C .*clients' side" <<<"$st"
check "status shows the servers' side" grep -q "$IF_B .*servers' side" <<<"$st"
SWEEP=$(jfield "d['features']['flow_sweep']")
if [ "${MXLIMIT_DISABLE:-}" = gw_timer ]; then
	check_eq "forced fallback: the daemon sweeps" "$SWEEP" daemon
else
	check_eq "the flow sweep runs in the kernel" "$SWEEP" timer
fi
# the daemon (verdicts; and the sweep when the kernel timer is off)
nsenter --net=/run/netns/$GW "$MXLIMIT" --pin-dir "$PIN" daemon --state "$DIR/dstate.gz" \
	--socket "$DIR/v.sock" >"$DIR/daemon.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -S "$DIR/v.sock" ] && break; sleep 0.1; done
verdict() { # LINE -> the daemon's reply
	/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
print(s.makefile().readline().strip())' "$DIR/v.sock" "$1" 2>&1
}
check_eq "json mode" "$(jfield "d['mode']")" gateway

# mode switching is refused
check "local load on a gateway pin dir refused" bash -c "! nsenter --net=/run/netns/$GW $MXLIMIT --pin-dir $PIN load -i $IF_C -c $DIR/gw.ini --state $DIR/state.gz 2>/dev/null"

scenario() { # tag client serverA serverB
	local t=$1 c=$2 a=$3 b=$4
	check_eq "$t: 1st connection through the gateway (server A)" "$(open_ ${t}1 $c $a)" ok
	check_eq "$t: 2nd (server B)" "$(open_ ${t}2 $c $b)" ok
	check_eq "$t: 3rd (server A)" "$(open_ ${t}3 $c $a)" ok
	check "$t: 3 flows counted" wait_for 30 active_is 3
	check_eq "$t: 4th refused at the gateway (the limit spans both servers)" \
		"$(open_ ${t}4 $c $b 25 1)" timeout
	cmd close ${t}2 >/dev/null
	check "$t: a FIN counts down" wait_for 30 active_is 2
	check_eq "$t: the freed slot is usable" "$(open_ ${t}5 $c $b)" ok
	cmd reset ${t}1 >/dev/null
	check "$t: an RST counts down" wait_for 30 active_is 2
	cmd closeall >/dev/null
	check "$t: all closed: 0 flows" wait_for 50 active_is 0
}
scenario v4 $CLI4 $SA4 $SB4
scenario v6 $CLI6 $SA6 $SB6

check_eq "a server closing first counts down too" "$(open_ s1 $CLI4 $SA4)" ok
check "1 flow" wait_for 30 active_is 1
# the server side closes: kill the holding server's connection by
# restarting nothing; instead the client half-closes and the server
# answers with its FIN (lab_server closes when the client does)
cmd close s1 >/dev/null
check "0 flows" wait_for 30 active_is 0
check_eq "query: the source has 0 active" "$(qactive $CLI4)" 0

# the servers' own outbound connections to port 25 are never counted
r=$(nsenter --net=/run/netns/$SA python3 -c "
import socket
s = socket.create_connection(('$CLI4', 25), timeout=3)
print('ok')
import time; time.sleep(0.5)
s.close()" 2>&1)
check_eq "server A connects out to a remote port 25" "$r" ok
check "its connection was not counted" active_is 0
check_eq "and the server's address has no counter" \
	"$(qactive $SA4)" 0

# spoofed SYNs from sources that never answer: pending only, nothing counted
nsenter --net=/run/netns/$CL python3 - "$SA4" <<'PY' || fail "raw SYN flood"
import random, socket, struct, sys
dst = socket.inet_aton(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range(300):  # bounded
    src = socket.inet_aton("198.18.5.%d" % (1 + i % 250))
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 25, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, src, dst)
    s.sendto(ip + tcp, (sys.argv[1], 0))
PY
sleep 0.5
check "300 spoofed SYNs: no flow counted" active_is 0
check_eq "no counter for the spoofed sources" \
	"$(qactive 198.18.5.7)" 0
check "handshakes pending for them" test "$(jfield "d['gateway']['handshakes_pending']")" -gt 0

# a link that drops everything: FINs never arrive, idle expiry ends the
# flows (flow_idle_smtp = 10s) with no userspace process (unless the
# variant forced the daemon's sweep)
for i in 1 2; do check_eq "cut: connection $i" "$(open_ cut$i $CLI4 $SA4)" ok; done
check "cut: 2 flows" wait_for 30 active_is 2
for ns in $CL $SA; do
	ip netns exec $ns nft -f - <<'N'
table inet mxcut {
	chain o {
		type filter hook output priority 0; policy drop;
	}
}
N
done
cmd closeall >/dev/null
sleep 1
check "cut: the lost FINs leave 2 counted" active_is 2
check "cut: idle expiry counts them down (10 s idle + sweep)" wait_for 250 active_is 0
for ns in $CL $SA; do ip netns exec $ns nft delete table inet mxcut; done
stats=$(status_json)
check_eq "expired counted" "$(python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['gw_expired'] >= 2)" <<<"$stats")" True
check_eq "no underflow" "$(python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['underflow'])" <<<"$stats")" 0

# block and unblock act at the gateway
check "block the client" mx block $CLI4 --ttl 60
check_eq "blocked: refused" "$(open_ b1 $CLI4 $SA4 25 1)" timeout
check_eq "another client passes" "$(open_ b2 198.18.0.3 $SA4)" ok
check "unblock" mx unblock $CLI4
check_eq "unblocked: passes" "$(open_ b3 $CLI4 $SA4)" ok
cmd closeall >/dev/null
check "0 flows after the block test" wait_for 50 active_is 0

# a penalty verdict through the daemon applies at the gateway
r=$(verdict "PENALIZE $CLI4 60 limit=1 reason=errors")
check "PENALIZE through the daemon" grep -q "^OK penalized" <<<"$r"
check_eq "penalized: 1 connection passes" "$(open_ p1 $CLI4 $SA4)" ok
check_eq "penalized: the 2nd is refused" "$(open_ p2 $CLI4 $SB4 25 1)" timeout
check "unblock lifts the penalty" mx unblock $CLI4
check_eq "after the penalty: passes" "$(open_ p3 $CLI4 $SB4)" ok
cmd closeall >/dev/null
check "0 flows after the penalty test" wait_for 50 active_is 0

# the connection rate, and action reset, in gateway mode
cat >"$DIR/rate.ini" <<'P'
[main]
ports = 25,143
servers = 198.18.1.0/24, 198.18.2.0/24, fd00:11::/64, fd00:12::/64
action = reset
[rate_conn]
enabled = true
default = 3/1m
P
check "reload: rate 3/1m, action reset" mx reload -c "$DIR/rate.ini"
for i in 1 2 3; do
	check_eq "rate: connection $i of 3" "$(open_ q$i 198.18.0.3 $([ $i = 2 ] && echo $SB4 || echo $SA4))" ok
	cmd close q$i >/dev/null
done
check_eq "rate: the 4th within the minute is reset at once" "$(open_ q4 198.18.0.3 $SA4 25 5)" refused
check "rate: refused_rate counted" test "$(jfield "d['counters']['refused_rate']")" -ge 1
check "rate: a reset was sent" test "$(jfield "d['counters']['rst_sent']")" -ge 1
check "reload back" mx reload -c "$DIR/gw.ini"
cmd closeall >/dev/null
check "0 flows after the rate test" wait_for 50 active_is 0

# reload keeps the counts; a policy without servers is refused
for i in 1 2; do open_ r$i $CLI4 $SB4 >/dev/null; done
check "2 flows before reload" wait_for 30 active_is 2
check "reload" mx reload -c "$DIR/gw.ini"
check "counts kept across reload" active_is 2
printf '[main]\nports = 25\n[concurrency]\nenabled = true\nmax = 3\n' >"$DIR/noserv.ini"
check "reload without [main] servers refused" bash -c "! nsenter --net=/run/netns/$GW $MXLIMIT --pin-dir $PIN reload -c $DIR/noserv.ini 2>/dev/null"
check_eq "and the limit still applies to the servers" "$(open_ r3 $CLI4 $SB4)" ok
check_eq "the 4th refused" "$(open_ r4 $CLI4 $SA4 25 1)" timeout
cmd closeall >/dev/null
check "drift: every count back to 0" wait_for 50 active_is 0

# asymmetric paths: SYN-ACKs that never come back through the gateway
check "no asymmetry warning while handshakes complete" bash -c "! nsenter --net=/run/netns/$GW $MXLIMIT --pin-dir $PIN status | grep -q WARNING"
mx unload --all >/dev/null 2>&1
sed 's/^max = 3/max = 1000/' "$DIR/gw.ini" >"$DIR/gw-wide.ini"
mx load --gateway -i "$IF_C" --servers-on "$IF_A" --servers-on "$IF_B" -c "$DIR/gw-wide.ini" \
	--state "$DIR/state.gz" >/dev/null 2>&1 || fail "reload for the asymmetry check"
ip netns exec $SA nft -f - <<'N'
table inet mxcut {
	chain o {
		type filter hook output priority 0; policy drop;
	}
}
N
for i in $(seq 25); do cmd open a$i $CLI4 $SA4 25 0.05 >/dev/null; done
check "status warns when no SYN-ACK comes back" bash -c "nsenter --net=/run/netns/$GW $MXLIMIT --pin-dir $PIN status | grep -q 'WARNING.*symmetric'"
check_eq "json says so" "$(jfield "d['gateway']['asymmetric_suspected']")" True
ip netns exec $SA nft delete table inet mxcut
cmd closeall >/dev/null

# the last fallback forced: no flow sweep at all still loads, and says so
mx unload --all >/dev/null 2>&1
out=$(MXLIMIT_DISABLE=gw_sweep nsenter --net=/run/netns/$GW "$MXLIMIT" --pin-dir "$PIN" load \
	--gateway -i "$IF_C" --servers-on "$IF_A" -c "$DIR/gw.ini" --state "$DIR/state.gz" 2>&1)
check "MXLIMIT_DISABLE=gw_sweep: load still succeeds" test $? = 0
check "and warns once that flows may stay counted" grep -q "stay counted" <<<"$out"
check_eq "status --json: flow_sweep off" "$(jfield "d['features']['flow_sweep']")" off
check_eq "a connection still counts with the sweep off" "$(open_ z1 $CLI4 $SA4)" ok
check "1 flow" wait_for 30 active_is 1
cmd closeall >/dev/null
check "and counts down on its FIN" wait_for 50 active_is 0

exit 0
