# tests/proxy/pxlib.sh - shared set-up for proxy tests: free ports, peers
# (smtp-sink, the python capture backend, a fake verdict socket) and the
# proxy itself, every process killed by pid when the test ends.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PXDIR=$ROOT/tests/proxy
TMP=$(mktemp -d "/tmp/mxpx.$TEST_ID.XXXXXX")
chmod 755 "$TMP"
on_exit "rm -rf '$TMP'"
export PYTHONPATH=$PXDIR
export PYTHONDONTWRITEBYTECODE=1

if [ ! -x "$MXPROXY" ]; then
	echo "1..0 # SKIP $MXPROXY not built"
	exit 0
fi

# A port nobody listens on right now (the kernel picks it).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: up to 5 s for a listener.
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# bg NAME CMD...: start CMD in the background, kill it at exit; $BG_PID.
bg() {
	local name=$1; shift
	"$@" >"$TMP/$name.out" 2>&1 &
	BG_PID=$!
	on_exit "kill $BG_PID; wait $BG_PID"
}

# start_sink PORT [smtp-sink options]: Postfix's smtp-sink as backend.
start_sink() {
	local port=$1; shift
	bg "sink.$port" smtp-sink -u nobody "$@" "127.0.0.1:$port" 256
	wait_port "$port"
}

# start_capture PORT DIR [--proxy v1|v2]: the python capture backend.
start_capture() {
	local port=$1 dir=$2; shift 2
	mkdir -p "$dir"
	bg "capture.$port" python3 "$PXDIR/pxtool.py" backend "$port" "$dir" "$@"
	wait_port "$port"
}

# start_verdict PATH LOG [--refuse]: fake verdict socket; $VERDICT_PID.
start_verdict() {
	local i
	bg "verdict" python3 "$PXDIR/pxtool.py" verdict "$@"
	VERDICT_PID=$BG_PID
	for ((i = 0; i < 100; i++)); do [ -S "$1" ] && return 0; sleep 0.05; done
	return 1
}

# start_proxy INI: run the proxy; waits for every listener; $PROXY_PID.
start_proxy() {
	local ini=$1 log=$TMP/proxy.$RANDOM.log want i
	want=$(grep -E '^listen' "$ini" | tr ',' '\n' | grep -c ':')
	"$MXPROXY" -c "$ini" -v >"$log" 2>&1 &
	PROXY_PID=$!
	PROXY_LOG=$log
	PROXY_PIDS+=("$PROXY_PID")
	PROXY_LOGS+=("$log")
	on_exit "kill $PROXY_PID; wait $PROXY_PID"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'listening on' "$log")" -ge "$want" ] && return 0
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log" >&2
	return 1
}

PROXY_PIDS=()
PROXY_LOGS=()

# usr1_count PID LOG WORD: signal SIGUSR1 and print the number after WORD
# in the counter line it logs to LOG ("sessions" for the proxy's open
# sessions, "connections" for policyd's); waits up to 2.5 s for the line.
usr1_count() {
	local n i re="(^|: )$3 [0-9]+"
	n=$(grep -cE "$re" "$2")
	kill -USR1 "$1"
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -cE "$re" "$2")" -gt "$n" ] && break
		sleep 0.05
	done
	grep -oE "$re" "$2" | tail -1 | grep -oE '[0-9]+$'
}

# finish: stop every proxy (SIGTERM, as in production), check each exited
# cleanly with no sanitizer report in its log, and end the test.
finish() {
	local i bad=0
	for i in "${!PROXY_PIDS[@]}"; do
		kill "${PROXY_PIDS[i]}" 2>/dev/null
		wait "${PROXY_PIDS[i]}" || bad=1
		if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "${PROXY_LOGS[i]}"; then
			sed -n '1,40p' "${PROXY_LOGS[i]}" >&2
			bad=1
		fi
	done
	check_eq "every proxy exited cleanly, no sanitizer report" "$bad" 0
	exit $T_FAILED
}

# py SCRIPT: run inline python with smtpc importable; prints its stdout.
py() { timeout 60 python3 -c "from smtpc import *
$1"; }
