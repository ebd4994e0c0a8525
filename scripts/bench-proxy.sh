#!/bin/bash
# bench-proxy.sh - mxlimit-proxy against no proxy, in one run:
#   1. smtp-source -> smtp-sink directly, and smtp-source -> proxy -> smtp-sink,
#      alternated for ROUNDS rounds; prints messages/s of each and the ratio
#      of the medians (issue 4 target: >= 0.9).
#   2. RSS of the proxy with IDLE idle clients (each with its backend
#      connection), per connection (target: <= 32 KiB).
# Usage: BUILD=build scripts/bench-proxy.sh   (MSGS, SESSIONS, ROUNDS, IDLE, MSGLEN)
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROXY=$ROOT/$BUILD/mxlimit-proxy
MSGS=${MSGS:-20000}
SESSIONS=${SESSIONS:-20}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-5000}
MSGLEN=${MSGLEN:-2048}
TMP=$(mktemp -d /tmp/mxbench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$PROXY" ] || { echo "bench-proxy: $PROXY not built" >&2; exit 1; }
# two descriptors per idle client in the proxy, one in the sink and holder
ulimit -n $((IDLE * 2 + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-proxy: nothing listens on $1" >&2
	exit 1
}

SINK=$(free_port)
IDLEBE=$(free_port)
PX=$(free_port)
PXI=$(free_port)
smtp-sink -u nobody -c "127.0.0.1:$SINK" 4096 >"$TMP/sink.log" 2>&1 &
PIDS+=($!)
wait_port "$SINK"
# start_proxy PORT BACKEND: sets PX_PID
start_proxy() {
	cat >"$TMP/limit.$1.ini" <<EOI
[proxy]
listen = 127.0.0.1:$1
backend = 127.0.0.1:$2
max_clients = $((IDLE + 100))
verdict_socket = none
EOI
	"$PROXY" -c "$TMP/limit.$1.ini" >"$TMP/proxy.$1.log" 2>&1 &
	PX_PID=$!
	PIDS+=($PX_PID)
	wait_port "$1"
}
start_proxy "$PX" "$SINK"

# rate PORT: messages per second of one smtp-source run
rate() {
	local t0 t1
	t0=$(date +%s.%N)
	timeout 300 smtp-source -s "$SESSIONS" -m "$MSGS" -l "$MSGLEN" -f bench@example.org \
		-t sink@example.net "127.0.0.1:$1" || { echo "bench-proxy: smtp-source failed" >&2; exit 1; }
	t1=$(date +%s.%N)
	echo "$MSGS / ($t1 - $t0)" | bc -l
}
# ticks PID: user and system clock ticks a process used so far
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "proxy throughput: $MSGS messages of $MSGLEN bytes, $SESSIONS sessions, $ROUNDS rounds, $(nproc) CPUs"
: >"$TMP/direct" ; : >"$TMP/proxied"
read -r u0 s0 < <(ticks "$PX_PID")
for ((r = 1; r <= ROUNDS; r++)); do
	d=$(rate "$SINK"); p=$(rate "$PX")
	echo "$d" >>"$TMP/direct"; echo "$p" >>"$TMP/proxied"
	printf '  round %d: direct %.0f msg/s, via proxy %.0f msg/s\n' "$r" "$d" "$p"
done
d=$(median <"$TMP/direct"); p=$(median <"$TMP/proxied")
printf 'direct (smtp-source -> smtp-sink):          %.0f msg/s\n' "$d"
printf 'proxied (smtp-source -> proxy -> smtp-sink): %.0f msg/s\n' "$p"
printf 'ratio proxied/direct: %.3f (target >= 0.9)\n' "$(echo "$p / $d" | bc -l)"
read -r u1 s1 < <(ticks "$PX_PID")
hz=$(getconf CLK_TCK)
printf 'proxy CPU: %.0f us per message (%.0f%% in the kernel: TCP on both sides)\n' \
	"$(echo "($u1 - $u0 + $s1 - $s0) * 1000000 / $hz / ($MSGS * $ROUNDS)" | bc -l)" \
	"$(echo "100 * ($s1 - $s0) / ($u1 - $u0 + $s1 - $s0 + 0.0001)" | bc -l)"

# RSS: a fresh proxy in front of a greeter that holds any number of
# sessions (smtp-sink stops at 256); baseline, then IDLE idle clients.
timeout 200 python3 "$ROOT/tests/proxy/idle_backend.py" "$IDLEBE" 180 >"$TMP/idlebe.log" 2>&1 &
PIDS+=($!)
wait_port "$IDLEBE"
start_proxy "$PXI" "$IDLEBE"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PX_PID/status"; }
base=$(rss)
mkfifo "$TMP/hold.in"
timeout 120 python3 "$ROOT/tests/proxy/hold_conns.py" "$PXI" "$IDLE" 100 <"$TMP/hold.in" >"$TMP/hold.out" 2>&1 &
HOLD=$!
PIDS+=($HOLD)
exec 7>"$TMP/hold.in"
for ((i = 0; i < 1000; i++)); do
	grep -q held "$TMP/hold.out" 2>/dev/null && break
	kill -0 "$HOLD" 2>/dev/null || break
	sleep 0.1
done
held=$(awk '/held/ {print $2}' "$TMP/hold.out")
if [ -z "$held" ]; then
	echo "bench-proxy: idle clients not held: $(cat "$TMP/hold.out")" >&2
	exit 1
fi
loaded=$(rss)
exec 7>&-
printf 'idle clients held: %d (greeted through the proxy)\n' "$held"
printf 'proxy RSS: %d KiB idle, %d KiB with %d clients: %.1f KiB per connection (target <= 32)\n' \
	"$base" "$loaded" "$held" "$(echo "($loaded - $base) / $held" | bc -l)"
