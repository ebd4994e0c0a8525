#!/bin/bash
# bench-policyd.sh - mxlimit-policyd against two Debian policy servers, in one
# run, each configured for the same limit: at most 1000 recipients per hour per
# sender (RCPT-state requests, one request per recipient).
#   mxlimit-policyd      $BUILD/mxlimit-policyd, [rate_rcpt_sender] 1000/1h
#   postfwd              Debian postfwd (postfwd2, pre-forked), rate(sender/1000/3600/...)
#   policyd-rate-limit   Debian policyd-rate-limit (python3, sqlite), limits [1000, 3600]
# For each server: a closed-loop run (decisions/s), then an open-loop run at
# RATE decisions/s (p50/p99 latency, measured from each request's scheduled
# time); a server that sustained less than RATE in the closed loop is measured
# at half of what it sustained instead, and the table says so.
# The load generator is tests/bench/policyd_load.c, built into
# $BUILD/bench-tools/policyd_load.  Targets (printed, never enforced):
# mxlimit-policyd >= 10x the faster peer; p99 < 1 ms at 10,000 decisions/s.
#
# Usage: BUILD=build scripts/bench-policyd.sh
#   DURATION  closed-loop seconds per server (5)    OPEN_SECS  open-loop seconds (5)
#   RATE      open-loop target decisions/s (10000)  CONNS      connections (16)
#   SENDERS   distinct senders (100000)             HOT        % of messages from one
#                                                                hot sender (1)
#   RCPTS     recipients per message (5)            PEERS      "postfwd policyd-rate-limit"
#   FLOOR     1: also measure the floor row, policyd_load -L: a responder
#             that answers DUNNO at once (what machine + load generator add)
# Exit: 0 when the rows ran, 1 when mxlimit-policyd's row failed (or the load
# generator did not build).  Every server is started here, bound to loopback
# or a socket in a private temp directory, and killed by PID on exit.
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) BUILDDIR=$BUILD ;; *) BUILDDIR=$ROOT/$BUILD ;; esac
MX=${MXPOLICYD:-$BUILDDIR/mxlimit-policyd}
LOAD=$BUILDDIR/bench-tools/policyd_load
DURATION=${DURATION:-5}
OPEN_SECS=${OPEN_SECS:-5}
RATE=${RATE:-10000}
CONNS=${CONNS:-16}
SENDERS=${SENDERS:-100000}
HOT=${HOT:-1}
RCPTS=${RCPTS:-5}
PEERS=${PEERS:-postfwd policyd-rate-limit}
# hard bound on each server's life and on each load run
CAP=$((DURATION + OPEN_SECS + 40))
LOADCAP=$((DURATION > OPEN_SECS ? DURATION + 10 : OPEN_SECS + 10))

TMP=$(mktemp -d /tmp/mxbench-policyd.XXXXXX) || exit 1
PIDS=()        # processes started here (timeout wrappers, watchdogs)
PF_PIDFILE=""  # postfwd daemonizes: its master's PID is read from here

pf_stop() {
	# postfwd2 --daemon runs in its own session (its master's PID is the
	# session id): TERM the master, then KILL any of its session left, by PID.
	local pid p i
	[ -n "$PF_PIDFILE" ] && [ -s "$PF_PIDFILE" ] || return 0
	pid=$(cat "$PF_PIDFILE" 2>/dev/null)
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 30; i++)); do
		[ -z "$(ps -eo pid=,sid=,stat= | awk -v s="$pid" '$2 == s && $3 !~ /^Z/ {print $1}')" ] && break
		sleep 0.1
	done
	for p in $(ps -eo pid=,sid=,stat= | awk -v s="$pid" '$2 == s && $3 !~ /^Z/ {print $1}'); do
		kill -KILL "$p" 2>/dev/null
	done
	rm -f "$PF_PIDFILE"
	PF_PIDFILE=""
}
cleanup() {
	local p
	pf_stop
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- load generator
mkdir -p "$BUILDDIR/bench-tools"
if ! timeout 120 "${CC:-cc}" -std=gnu11 -O2 -Wall -Wextra -Werror \
	-o "$LOAD" "$ROOT/tests/bench/policyd_load.c" -lm; then
	echo "bench-policyd: cannot build the load generator" >&2
	exit 1
fi

free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
	else
		echo $((20000 + RANDOM % 20000))
	fi
}
wait_sock() { # PATH or HOST:PORT, up to 10 s
	local i
	for ((i = 0; i < 100; i++)); do
		case $1 in
		/*) [ -S "$1" ] && return 0 ;;
		*) (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null && return 0 ;;
		esac
		sleep 0.1
	done
	return 1
}
field() { # field LINE KEY
	local kv
	for kv in $1; do
		[ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return; }
	done
	echo "-"
}

# run_load NAME TARGET: warm-up, closed loop, open loop; sets
# RES_CLOSED / RES_OPEN (policyd_load lines) and RES_NOTE; 0 on success
run_load() {
	local name=$1 target=$2 c orate lrc=0
	RES_CLOSED="" RES_OPEN="" RES_NOTE="" RES_CHECK=""
	# limit check, on the fresh server: 1200 requests from one new sender,
	# one connection: the first 1000 must pass, the last 200 get a 450
	if [ "${3:-}" != nocheck ]; then
		RES_CHECK=$(timeout 60 "$LOAD" -s "$target" -c 1 -n 1200 -d 50 -T 55 \
			-K 1 -H 0 -m "$RCPTS" -P limitcheck -S 3 2>"$TMP/$name.check.err") || lrc=1
	fi
	# 1 s warm-up (connections, caches, first pages of tables), not reported
	timeout 20 "$LOAD" -s "$target" -c "$CONNS" -d 1 -T 5 -K "$SENDERS" \
		-H "$HOT" -m "$RCPTS" -S 7 >"$TMP/$name.warm" 2>"$TMP/$name.warm.err"
	RES_CLOSED=$(timeout $((LOADCAP + 20)) "$LOAD" -s "$target" -c "$CONNS" \
		-d "$DURATION" -T "$LOADCAP" -K "$SENDERS" -H "$HOT" -m "$RCPTS" \
		-S 1 2>"$TMP/$name.closed.err") || lrc=1
	sed 's/^/  [load] /' "$TMP/$name.closed.err" | head -5 >&2
	c=$(field "$RES_CLOSED" rate)
	case $c in '' | - | 0 | 0.0) return 1 ;; esac
	orate=$RATE
	if awk -v c="$c" -v r="$RATE" 'BEGIN { exit !(c < r) }'; then
		orate=$(awk -v c="$c" 'BEGIN { printf "%d", c * 0.5 }')
		[ "$orate" -ge 1 ] || orate=1
		RES_NOTE="at $orate/s (half its closed-loop rate; $RATE/s is beyond it)"
	fi
	RES_OPEN=$(timeout $((LOADCAP + 20)) "$LOAD" -s "$target" -c "$CONNS" \
		-r "$orate" -d "$OPEN_SECS" -T "$LOADCAP" -K "$SENDERS" -H "$HOT" \
		-m "$RCPTS" -S 2 2>"$TMP/$name.open.err") || lrc=1
	sed 's/^/  [load] /' "$TMP/$name.open.err" | head -5 >&2
	return $lrc
}

declare -A CHECK CLOSED OPEN NOTE STATUS
ROWS=()

# ---- mxlimit-policyd
bench_mx() {
	local sock=$TMP/mx.sock ini=$TMP/mxlimit-policyd.ini pid
	ROWS+=(mxlimit-policyd)
	if [ ! -x "$MX" ]; then
		STATUS[mxlimit-policyd]="not built ($MX)"
		return 1
	fi
	cat >"$ini" <<EOI
[main]
ports = 25

[rate_rcpt_sender]
enabled = true
default = 1000/1h

[policyd]
listen = unix:$sock
verdict_socket =
EOI
	if ! timeout 10 "$MX" -t -c "$ini" >"$TMP/mx.check" 2>&1; then
		STATUS[mxlimit-policyd]="config check failed: $(head -c 200 "$TMP/mx.check" | tr '\n' ' ')"
		return 1
	fi
	timeout "$CAP" "$MX" -c "$ini" 2>"$TMP/mx.log" &
	pid=$!
	PIDS+=("$pid")
	if ! wait_sock "$sock"; then
		STATUS[mxlimit-policyd]="did not listen on $sock: $(tail -c 200 "$TMP/mx.log" | tr '\n' ' ')"
		kill "$pid" 2>/dev/null
		return 1
	fi
	run_load mxlimit-policyd "unix:$sock"
	local rc=$?
	if ! kill -0 "$pid" 2>/dev/null; then
		STATUS[mxlimit-policyd]="server died during the run: $(tail -c 300 "$TMP/mx.log" | tr '\n' ' ')"
		rc=1
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	CHECK[mxlimit-policyd]=$RES_CHECK CLOSED[mxlimit-policyd]=$RES_CLOSED OPEN[mxlimit-policyd]=$RES_OPEN NOTE[mxlimit-policyd]=$RES_NOTE
	[ -n "${STATUS[mxlimit-policyd]:-}" ] || STATUS[mxlimit-policyd]=$([ $rc = 0 ] && echo ok || echo "load errors")
	return $rc
}

# ---- postfwd (postfwd2: the Debian default "postfwd"; pre-forked Net::Server)
bench_postfwd() {
	local bin port cport cf=$TMP/postfwd.cf wd
	ROWS+=(postfwd)
	bin=$(command -v postfwd2 || ls /usr/sbin/postfwd2 2>/dev/null)
	if [ -z "$bin" ]; then
		STATUS[postfwd]="not installed (apt-get install postfwd)"
		return 0
	fi
	port=$(free_port)
	cport=$(free_port)
	# one request per recipient in RCPT state: rate() counts requests, so
	# this is 1000 recipients per hour per sender.  postfwd disables its
	# request cache by itself when a ruleset has rate limits.
	cat >"$cf" <<EOF
id=RCPT_SENDER_RATE; protocol_state==RCPT; action=rate(sender/1000/3600/450 4.7.1 sender rate limit exceeded)
id=DEFAULT; action=DUNNO
EOF
	PF_PIDFILE=$TMP/postfwd.pid
	rm -f "$PF_PIDFILE"
	# postfwd2's rate() needs its cache daemon, which --nodaemon does not
	# start, so it runs as a daemon here, on private ports and a private
	# pid file; it detaches, so a watchdog bounds its life.
	if ! timeout 20 "$bin" --daemon -f "$cf" --proto=tcp -i 127.0.0.1 -p "$port" \
		--cache_socket="tcp:127.0.0.1:$cport" --pidfile="$PF_PIDFILE" \
		-u root -g root --nodns --noidlestats --perfmon \
		>"$TMP/postfwd.log" 2>&1; then
		STATUS[postfwd]="failed to start: $(grep -v Redundant "$TMP/postfwd.log" | tail -c 200 | tr '\n' ' ')"
		return 0
	fi
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$CAP" &
		s=$!
		wait "$s"
		p=$(cat "$PF_PIDFILE" 2>/dev/null) && [ -n "$p" ] && kill -TERM "$p"
	) >/dev/null 2>&1 &
	wd=$!
	PIDS+=("$wd")
	if ! wait_sock "127.0.0.1:$port"; then
		STATUS[postfwd]="did not listen on 127.0.0.1:$port"
		pf_stop
		return 0
	fi
	run_load postfwd "127.0.0.1:$port"
	local rc=$?
	pf_stop
	kill "$wd" 2>/dev/null
	CHECK[postfwd]=$RES_CHECK CLOSED[postfwd]=$RES_CLOSED OPEN[postfwd]=$RES_OPEN NOTE[postfwd]=$RES_NOTE
	STATUS[postfwd]=$([ $rc = 0 ] && echo ok || echo "load errors")
}

# ---- policyd-rate-limit (python3, select() loop, sqlite backend)
bench_prl() {
	local bin y=$TMP/policyd-rate-limit.yaml sock=$TMP/prl.sock pid
	ROWS+=(policyd-rate-limit)
	bin=$(command -v policyd-rate-limit || ls /usr/bin/policyd-rate-limit 2>/dev/null)
	if [ -z "$bin" ]; then
		STATUS[policyd-rate-limit]="not installed (apt-get install policyd-rate-limit)"
		return 0
	fi
	# -f reads this file only; user/group root: it drops privileges to them.
	# sqlite is its default backend; the database file is in $TMP.
	cat >"$y" <<EOF
debug: False
user: "root"
group: "root"
pidfile: "$TMP/prl.pid"
backend: 0
sqlite_config:
    database: "$TMP/prl.sqlite3"
SOCKET: "$sock"
socket_permission: 0600
limits:
    - [1000, 3600]
limits_by_id: {}
limit_by_sasl: False
limit_by_sender: True
limit_by_ip: False
limited_networks: []
success_action: "dunno"
fail_action: "450 4.7.1 sender rate limit exceeded"
db_error_action: "dunno"
report: False
delay_to_close: 300
EOF
	timeout "$CAP" "$bin" -f "$y" >"$TMP/prl.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	if ! wait_sock "$sock"; then
		STATUS[policyd-rate-limit]="did not listen: $(tail -c 200 "$TMP/prl.log" | tr '\n' ' ')"
		kill "$pid" 2>/dev/null
		return 0
	fi
	run_load policyd-rate-limit "unix:$sock"
	local rc=$?
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	CHECK[policyd-rate-limit]=$RES_CHECK CLOSED[policyd-rate-limit]=$RES_CLOSED OPEN[policyd-rate-limit]=$RES_OPEN NOTE[policyd-rate-limit]=$RES_NOTE
	STATUS[policyd-rate-limit]=$([ $rc = 0 ] && echo ok || echo "load errors")
}

# ---- floor: policyd_load's own DUNNO responder (no policy work at all); its
# latency is what this machine and the load generator add by themselves
bench_floor() {
	local pid sock=$TMP/floor.sock
	timeout "$CAP" "$LOAD" -L "unix:$sock" -T "$CAP" 2>"$TMP/floor.log" &
	pid=$!
	PIDS+=("$pid")
	wait_sock "$sock" || { kill "$pid" 2>/dev/null; return 0; }
	run_load floor "unix:$sock" nocheck
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	CLOSED[floor]=$RES_CLOSED OPEN[floor]=$RES_OPEN NOTE[floor]=$RES_NOTE STATUS[floor]=floor
	ROWS+=(floor)
}

echo "bench-policyd: $CONNS connections, closed loop ${DURATION}s, open loop ${OPEN_SECS}s at $RATE/s," \
	"$SENDERS senders ($HOT% of messages from one hot sender), $RCPTS recipients/message," \
	"limit 1000 recipients/hour/sender; $(nproc) CPUs"
MXRC=0
bench_mx || MXRC=1
for peer in $PEERS; do
	case $peer in
	postfwd) bench_postfwd ;;
	policyd-rate-limit) bench_prl ;;
	*) echo "bench-policyd: unknown peer $peer" >&2 ;;
	esac
done
[ "${FLOOR:-1}" = 0 ] || bench_floor

# ---- table
echo
printf '%-20s %12s %10s %10s %10s %10s  %s\n' server "closed dec/s" "open /s" "p50 µs" "p99 µs" "max µs" "actions (closed loop) / status"
best_peer=0 best_name=""
for r in "${ROWS[@]}"; do
	c=${CLOSED[$r]:-} o=${OPEN[$r]:-}
	if [ -z "$c" ]; then
		printf '%-20s %12s %10s %10s %10s %10s  %s\n' "$r" - - - - - "${STATUS[$r]:-no result}"
		continue
	fi
	printf '%-20s %12s %10s %10s %10s %10s  %s\n' "$r" "$(field "$c" rate)" \
		"$(field "$o" rate)" "$(field "$o" p50_us)" "$(field "$o" p99_us)" \
		"$(field "$o" max_us)" "$(field "$c" actions) errors=$(field "$c" errors)+$(field "$o" errors) [${STATUS[$r]}]"
	[ -n "${NOTE[$r]}" ] && printf '%-20s   open loop %s\n' "" "${NOTE[$r]}"
	if [ "$r" != mxlimit-policyd ] && [ "$r" != floor ]; then
		if awk -v a="$(field "$c" rate)" -v b="$best_peer" 'BEGIN { exit !(a > b) }'; then
			best_peer=$(field "$c" rate) best_name=$r
		fi
	fi
done
echo
echo "raw lines:"
for r in "${ROWS[@]}"; do
	[ -n "${CHECK[$r]:-}" ] && echo "  $r check:  ${CHECK[$r]}"
	[ -n "${CLOSED[$r]:-}" ] && echo "  $r closed: ${CLOSED[$r]}"
	[ -n "${OPEN[$r]:-}" ] && echo "  $r open:   ${OPEN[$r]}"
done
echo
mxc=$(field "${CLOSED[mxlimit-policyd]:-}" rate)
mxo=${OPEN[mxlimit-policyd]:-}
if [ "$mxc" != - ] && [ -n "$best_name" ]; then
	ratio=$(awk -v a="$mxc" -v b="$best_peer" 'BEGIN { printf "%.1f", a / b }')
	echo "ratio mxlimit-policyd / $best_name (faster peer): ${ratio}x   (target >= 10x)"
else
	echo "ratio mxlimit-policyd / faster peer: n/a (target >= 10x)"
fi
if [ -n "$mxo" ]; then
	echo "mxlimit-policyd p99 at $(field "$mxo" target_rate)/s: $(field "$mxo" p99_us) µs   (target < 1000 µs at 10000/s)"
	[ -n "${OPEN[floor]:-}" ] &&
		echo "  floor p99 at $(field "${OPEN[floor]}" target_rate)/s: $(field "${OPEN[floor]}" p99_us) µs (what the machine and load generator add by themselves)"
else
	echo "mxlimit-policyd p99: n/a (target < 1000 µs at 10000/s)"
fi
echo "limit check (1200 recipients from one sender, expect DUNNO:1000 then 4xx:200):"
for r in "${ROWS[@]}"; do
	a=$(field "${CHECK[$r]:-}" actions)
	[ "$a" = - ] && continue
	case $a in
	DUNNO:1000,450:200) v=ok ;;
	*) v="DIFFERS" ;;
	esac
	printf '  %-20s %s  %s\n' "$r" "$a" "$v"
done
[ "$MXRC" = 0 ] && [ "$(field "${CLOSED[mxlimit-policyd]:-}" errors)" = 0 ] || exit 1
exit 0
