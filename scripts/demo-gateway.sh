#!/bin/bash
# make demo-gateway: mxlimit in gateway mode on a router namespace in front
# of two mail servers (Postfix's smtp-sink in two namespaces).  An abusive
# client tries to hold far more connections than the policy allows, across
# both servers, and sends spoofed SYNs; a legitimate sender delivers mail
# with smtp-source; then status, top and query on the gateway show the
# flows it counted and what it refused.  Unique names, everything removed
# at the end (also on failure or Ctrl-C); only namespaces it creates are
# touched.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
ID=$$
GW=mxdemo-gw-$ID SA=mxdemo-sa-$ID SB=mxdemo-sb-$ID GOOD=mxdemo-good-$ID BAD=mxdemo-bad-$ID
PIN=/sys/fs/bpf/mxlimit-demo-$ID
TMP=$(mktemp -d /tmp/mxlimit-demo-XXXXXX)
MX="$ROOT/$BUILD/mxlimit"
PIDS=""

. "$ROOT/scripts/demo-lib.sh"
cleanup() {
	demo_stop $PIDS
	nsenter --net=/run/netns/$GW "$MX" --pin-dir "$PIN" unload --all >/dev/null 2>&1
	for ns in $GW $SA $SB $GOOD $BAD; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP" "$PIN"
	rm -f "/run/mxlimit/policy-$(echo "$PIN" | tr / _)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

demo_setup demo-gateway

# link NS1 IF1 ADDR1 NS2 IF2 ADDR2 (IPv4 /24)
link() {
	{ ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" &&
	  ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$4" addr add "$6/24" dev "$5" &&
	  ip -n "$1" link set "$2" up && ip -n "$4" link set "$5" up; } ||
		demo_lab_failed "veth $2 - $5"
}
say "lab: gateway $GW in front of mail servers $SA (198.18.1.2) and $SB (198.18.2.2);"
echo "   clients $GOOD (198.18.10.2) and $BAD (198.18.20.2)"
for ns in $GW $SA $SB $GOOD $BAD; do
	{ ip netns add "$ns" && ip -n "$ns" link set lo up; } || demo_lab_failed "namespace $ns"
done
link $GW gwa$ID 198.18.1.1 $SA sa$ID 198.18.1.2
link $GW gwb$ID 198.18.2.1 $SB sb$ID 198.18.2.2
link $GW gwg$ID 198.18.10.1 $GOOD gd$ID 198.18.10.2
link $GW gwx$ID 198.18.20.1 $BAD bd$ID 198.18.20.2
{
	ip netns exec $GW sysctl -qw net.ipv4.ip_forward=1 &&
	ip -n $SA route add default via 198.18.1.1 &&
	ip -n $SB route add default via 198.18.2.1 &&
	ip -n $GOOD route add default via 198.18.10.1 &&
	ip -n $BAD route add default via 198.18.20.1 &&
	# the clients' veths run a pass-through XDP program so that mxlimit's
	# resets (XDP_TX on the gateway) reach them (docs/design.md "Labs")
	ip -n $GOOD link set dev gd$ID xdp obj "$BUILD/bpf/bare.bpf.o" sec xdp &&
	ip -n $BAD link set dev bd$ID xdp obj "$BUILD/bpf/bare.bpf.o" sec xdp
} || demo_lab_failed "forwarding, routes or the clients' XDP programs"

cat >"$TMP/limit.ini" <<'P'
; the gateway demo's policy (see config/limit.ini for every option)
[main]
ports = 25
action = reset
; gateway mode: the protected mail servers
servers = 198.18.1.0/24, 198.18.2.0/24

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

say "smtp-sink on both servers; mxlimit loaded on the gateway only"
for ns in $SA $SB; do
	nsenter --net=/run/netns/$ns timeout 120 smtp-sink -u nobody -c 0.0.0.0:25 1024 \
		>"$TMP/sink-$ns.out" 2>&1 &
	PIDS="$PIDS $!"
done
nsenter --net=/run/netns/$GW "$MX" --pin-dir "$PIN" load --gateway -i gwg$ID -i gwx$ID \
	--servers-on gwa$ID --servers-on gwb$ID -c "$TMP/limit.ini" --state "$TMP/state.gz" ||
	demo_lab_failed "mxlimit load --gateway"
sleep 0.5

say "abusive client: tries to hold 200 connections, alternating between the two servers"
demo_abuser $BAD "$TMP/bad.out" 198.18.2.2 198.18.1.2
PIDS="$PIDS $!"
sleep 1
say "spoofed SYNs: 500 from random sources in 198.18.99.0/24 (they hold nothing)"
nsenter --net=/run/netns/$BAD python3 - <<'PY'
import random, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst = socket.inet_aton("198.18.1.2")
for i in range(500):
    src = socket.inet_aton("198.18.99.%d" % random.randint(1, 254))
    tcp = struct.pack("!HHIIBBHHH", random.randint(1024, 65535), 25, random.getrandbits(32), 0,
                      5 << 4, 0x02, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, src, dst)
    s.sendto(ip + tcp, ("198.18.1.2", 0))
print("sent 500 spoofed SYNs")
PY
[ $? = 0 ] && spoofed=ok

say "legitimate client: smtp-source sends 50 messages over 2 parallel sessions to server B"
nsenter --net=/run/netns/$GOOD timeout 60 smtp-source -s 2 -m 50 -f sender@example.org \
	-t rcpt@example.com 198.18.2.2:25 && good=ok && echo "smtp-source: 50 messages accepted"

sleep 1
echo "abusive client: $(demo_kv "$TMP/bad.out" held) connections held (across both servers)," \
	"$(demo_kv "$TMP/bad.out" refused) refused by reset, $(demo_kv "$TMP/bad.out" timedout) timed out"
say "mxlimit status (on the gateway)"
nsenter --net=/run/netns/$GW "$MX" --pin-dir "$PIN" status | tee "$TMP/status.out"
say "mxlimit top"
nsenter --net=/run/netns/$GW "$MX" --pin-dir "$PIN" top -n 5
say "mxlimit query 198.18.20.2"
nsenter --net=/run/netns/$GW "$MX" --pin-dir "$PIN" query 198.18.20.2

say "what the demo expects"
demo_expect_clients "${good:-}" "$TMP/bad.out" "the gateway (resets), across both servers"
demo_expect "the 500 spoofed SYNs were sent" test "${spoofed:-}" = ok
demo_expect "the gateway counts the 5 held flows and nothing of the spoofed SYNs" \
	grep -qE '^active connections: 5 ' "$TMP/status.out"
say "done: tearing the lab down"
demo_end
