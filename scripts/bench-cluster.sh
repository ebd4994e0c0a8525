#!/bin/bash
# bench-cluster.sh - mxlimit-proxy with its recipient counters in Redis
# ([redis], docs/cluster.md) against the same proxy counting in process:
# smtp-source -> proxy -> smtp-sink, the two proxies alternated for ROUNDS
# rounds; prints messages/s of each, the ratio of the medians (issue 13
# target: >= 0.9) and Redis commands per message (INFO commandstats).
# All four [rate_rcpt_*] sections are on, with limits no run reaches.
# Redis is started here on 127.0.0.1 (a free port, no persistence).
# Usage: BUILD=build scripts/bench-cluster.sh   (MSGS, SESSIONS, ROUNDS, MSGLEN)
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROXY=$ROOT/$BUILD/mxlimit-proxy
MSGS=${MSGS:-10000}
SESSIONS=${SESSIONS:-20}
ROUNDS=${ROUNDS:-3}
MSGLEN=${MSGLEN:-2048}
TMP=$(mktemp -d /tmp/mxbench-cluster.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$PROXY" ] || { echo "bench-cluster: $PROXY not built" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench-cluster: redis-server missing (make deps)" >&2; exit 1; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-cluster: nothing listens on $1" >&2
	exit 1
}

SINK=$(free_port) RP=$(free_port) PXM=$(free_port) PXR=$(free_port)
smtp-sink -u nobody -c "127.0.0.1:$SINK" 4096 >"$TMP/sink.log" 2>&1 &
PIDS+=($!)
redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no --dir "$TMP" \
	--daemonize no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$SINK"
wait_port "$RP"
rcli() { redis-cli -h 127.0.0.1 -p "$RP" "$@"; }

# start_proxy PORT [redis]
start_proxy() {
	cat >"$TMP/limit.$1.ini" <<EOI
[rate_rcpt_host]
enabled = true
default = 100000000/1h
[rate_rcpt_sender]
enabled = true
default = 100000000/1h
[rate_rcpt]
enabled = true
default = 100000000/1h
[proxy]
listen = 127.0.0.1:$1
backend = 127.0.0.1:$SINK
verdict_socket = none
EOI
	[ -n "${2:-}" ] && printf '[redis]\nhost = 127.0.0.1\nport = %s\n' "$RP" >>"$TMP/limit.$1.ini"
	"$PROXY" -c "$TMP/limit.$1.ini" >"$TMP/proxy.$1.log" 2>&1 &
	PIDS+=($!)
	wait_port "$1"
}
start_proxy "$PXM"
start_proxy "$PXR" redis
for _ in $(seq 50); do grep -q "connected" "$TMP/proxy.$PXR.log" && break; sleep 0.1; done

rate() {
	local t0 t1
	t0=$(date +%s.%N)
	timeout 300 smtp-source -s "$SESSIONS" -m "$MSGS" -l "$MSGLEN" -f bench@example.org \
		-t sink@example.net "127.0.0.1:$1" || { echo "bench-cluster: smtp-source failed" >&2; exit 1; }
	t1=$(date +%s.%N)
	echo "$MSGS / ($t1 - $t0)" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
evals() { rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' '$1 == "cmdstat_eval" { print $3 }'; }

echo "shared counters: $MSGS messages of $MSGLEN bytes, $SESSIONS sessions, $ROUNDS rounds, $(nproc) CPUs"
: >"$TMP/mem"; : >"$TMP/redis"
rcli CONFIG RESETSTAT >/dev/null
for ((r = 1; r <= ROUNDS; r++)); do
	m=$(rate "$PXM"); x=$(rate "$PXR")
	echo "$m" >>"$TMP/mem"; echo "$x" >>"$TMP/redis"
	printf '  round %d: in-process %.0f msg/s, Redis %.0f msg/s\n' "$r" "$m" "$x"
done
calls=$(rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\).*/\1 \2/p')
total=$(awk '$1 != "ping" && $1 !~ /config/ {s += $2} END {print s + 0}' <<<"$calls")
m=$(median <"$TMP/mem"); x=$(median <"$TMP/redis")
printf 'in-process counters: %.0f msg/s\n' "$m"
printf 'Redis counters:      %.0f msg/s\n' "$x"
printf 'ratio Redis/in-process: %.3f (target >= 0.9)\n' "$(echo "$x / $m" | bc -l)"
ev=$(awk '$1 == "eval" {print $2}' <<<"$calls")
printf 'Redis round trips per message (one recipient each): %.2f EVAL\n' "$(echo "${ev:-0} / ($MSGS * $ROUNDS)" | bc -l)"
printf 'commands run by Redis per message, the scripts'"'"' included: %.2f (%s)\n' \
	"$(echo "$total / ($MSGS * $ROUNDS)" | bc -l)" "$(tr '\n' ' ' <<<"$calls")"
kill -USR1 "${PIDS[-1]}"
sleep 0.2
grep "counted in redis" "$TMP/proxy.$PXR.log" | tail -1
