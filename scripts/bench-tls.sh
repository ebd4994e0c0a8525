#!/bin/bash
# bench-tls.sh - mxlimit-proxy as a TLS endpoint, in one run (loopback only):
#   1. RSS per idle session: a fresh proxy in front of idle_backend.py holds
#      HOLD TLS sessions (listen_tls; handshake done, greeting read), and a
#      fresh one HOLD plaintext sessions; VmRSS before/after, KiB per session
#      (target: <= 64 KiB per TLS session).
#   2. TLS handshakes: openssl s_time against listen_tls (backend smtp-sink),
#      new TLS 1.3, new TLS 1.2 and resumed TLS 1.2 sessions, ECDSA P-256 and
#      RSA 2048 certificates; handshakes/s seen by the client and the proxy's
#      CPU time per handshake (/proc/PID/stat), i.e. handshakes per proxy core;
#      openssl s_server with the same certificates as a reference.
#   3. Messages/s of a STARTTLS client (tests/bench/tls_load.c, SESSIONS
#      connections, each reused for all its messages) straight to a private
#      Postfix with TLS, and through the proxy (plain TCP + XCLIENT to the
#      same Postfix), MSGLENS sizes; target proxied/direct >= 0.9.  Then the
#      same against smtp-sink: client -TLS-> stunnel4 -> smtp-sink vs client
#      -TLS-> proxy -> smtp-sink (skipped when stunnel4 or Postfix is absent).
#   4. Syscalls per relayed message in the plaintext proxy (strace -c -f -p)
#      during smtp-source -> proxy -> smtp-sink (one message per connection,
#      as bench-proxy.sh) and tls_load -M plain (MSGS messages on SESSIONS
#      reused connections).
# Each timing runs ROUNDS times (alternating where two are compared); the
# medians are printed.  Timing is never a failure; exit 1 only when a row
# could not run.
#   BUILD=build scripts/bench-tls.sh   (HOLD ROUNDS STIME SESSIONS MSGS1K
#                                       MSGS100K STRACE_MSGS SKIP=1,2,3,4)
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROXY=$ROOT/$BUILD/mxlimit-proxy
HOLD=${HOLD:-2000}
ROUNDS=${ROUNDS:-3}
STIME=${STIME:-5}
SESSIONS=${SESSIONS:-8}
MSGS1K=${MSGS1K:-2000}
MSGS100K=${MSGS100K:-400}
STRACE_MSGS=${STRACE_MSGS:-5000}
SKIP=${SKIP:-}
TMP=$(mktemp -d /tmp/mxbench-tls.XXXXXX)
chmod 755 "$TMP" # Postfix's daemons run as postfix
PIDS=()
_cleanups=()
on_exit() { _cleanups+=("$*"); } # the convention tests/proxy/postfix.sh uses
cleanup() {
	local p i
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" >/dev/null 2>&1
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rc=0
row_failed() { echo "bench-tls: $*" >&2; rc=1; }
skipped() { [[ ,$SKIP, == *,$1,* ]]; }

[ -x "$PROXY" ] || { echo "bench-tls: $PROXY not built" >&2; exit 1; }
# per held session: 2 descriptors in the proxy, 1 in the holder and backend
ulimit -n $((HOLD * 2 + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-tls: nothing listens on $1" >&2
	return 1
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
HZ=$(getconf CLK_TCK)
busy() { echo "  (machine: $(uptime | sed 's/.*load average/load average/'), $(nproc) CPUs)"; }

# certificates
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench.example.test -keyout "$TMP/ec.key" -out "$TMP/ec.pem" >/dev/null 2>&1 &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench.example.test \
		-keyout "$TMP/rsa.key" -out "$TMP/rsa.pem" >/dev/null 2>&1 ||
	{ echo "bench-tls: openssl req failed" >&2; exit 1; }
chmod 644 "$TMP"/*.key "$TMP"/*.pem

# the load generator
TOOLS=$ROOT/$BUILD/bench-tools
LOAD=$TOOLS/tls_load
mkdir -p "$TOOLS"
if [ ! -x "$LOAD" ] || [ "$ROOT/tests/bench/tls_load.c" -nt "$LOAD" ]; then
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$LOAD" "$ROOT/tests/bench/tls_load.c" \
		-lssl -lcrypto -lpthread || { echo "bench-tls: cannot build tls_load" >&2; exit 1; }
fi

# start_proxy NAME BACKEND CERT EXTRA...: a proxy with a STARTTLS listen port
# ($PX_PORT) and a listen_tls port ($PX_TLS); $PX_PID.  EXTRA: ini lines.
start_proxy() {
	local name=$1 be=$2 cert=$3 i
	shift 3
	PX_PORT=$(free_port)
	PX_TLS=$(free_port)
	{
		echo "[proxy]"
		echo "listen = 127.0.0.1:$PX_PORT"
		echo "listen_tls = 127.0.0.1:$PX_TLS"
		echo "backend = 127.0.0.1:$be"
		echo "tls_cert = $TMP/$cert.pem"
		echo "tls_key = $TMP/$cert.key"
		echo "verdict_socket = none"
		echo "max_clients = $((HOLD + 500))"
		for i in "$@"; do echo "$i"; done
	} >"$TMP/$name.ini"
	"$PROXY" -c "$TMP/$name.ini" >"$TMP/$name.log" 2>&1 &
	PX_PID=$!
	PIDS+=("$PX_PID")
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'listening on' "$TMP/$name.log")" -ge 2 ] && return 0
		kill -0 "$PX_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "bench-tls: proxy $name did not start: $(cat "$TMP/$name.log")" >&2
	return 1
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

SINK=$(free_port)
smtp-sink -u nobody -c "127.0.0.1:$SINK" 256 >"$TMP/sink.log" 2>&1 &
PIDS+=($!)
wait_port "$SINK" || exit 1

echo "TLS bench: mxlimit-proxy $(date -u '+%F %H:%M'), $(openssl version | cut -d' ' -f1-2), $(nproc) CPUs"
busy

################ 1. RSS per idle session
# hold PORT KIND: a fresh proxy's RSS before and after HOLD sessions; prints
# "HELD BASE LOADED GREET_MS" (GREET_MS only for TLS)
hold() {
	local kind=$1 out=$TMP/hold.out pid port i held base loaded
	start_proxy "rss-$kind" "$IDLEBE" ec || return 1
	[ "$kind" = tls ] && port=$PX_TLS || port=$PX_PORT
	sleep 0.2
	base=$(rss "$PX_PID")
	rm -f "$TMP/hold.in" "$out"
	mkfifo "$TMP/hold.in"
	if [ "$kind" = tls ]; then
		timeout 150 python3 "$ROOT/tests/bench/tls_hold.py" "$port" "$HOLD" 120 \
			<"$TMP/hold.in" >"$out" 2>&1 &
	else
		timeout 150 python3 "$ROOT/tests/proxy/hold_conns.py" "$port" "$HOLD" 120 \
			<"$TMP/hold.in" >"$out" 2>&1 &
	fi
	pid=$!
	PIDS+=("$pid")
	exec 7>"$TMP/hold.in"
	for ((i = 0; i < 1200; i++)); do
		grep -q held "$out" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	held=$(awk '/held/ {print $2}' "$out")
	sleep 1 # let the last sessions settle (OpenSSL buffers released when idle)
	loaded=$(rss "$PX_PID")
	exec 7>&-
	wait "$pid" 2>/dev/null
	stop "$PX_PID"
	if [ -z "$held" ] || [ "$held" -lt "$HOLD" ]; then
		echo "bench-tls: $kind sessions not all held: $(cat "$out")" >&2
		return 1
	fi
	echo "$held $base $loaded $(awk '/held/ {print $4}' "$out")"
}
if ! skipped 1; then
	echo
	echo "1. RSS per idle session: $HOLD sessions, fresh proxy each, $ROUNDS rounds"
	busy
	IDLEBE=$(free_port)
	timeout 900 python3 "$ROOT/tests/proxy/idle_backend.py" "$IDLEBE" 800 >"$TMP/idlebe.log" 2>&1 &
	PIDS+=($!)
	wait_port "$IDLEBE" || exit 1
	: >"$TMP/rss.tls"
	: >"$TMP/rss.plain"
	: >"$TMP/greet"
	for ((r = 1; r <= ROUNDS; r++)); do
		for kind in tls plain; do
			if ! res=$(hold "$kind"); then
				row_failed "RSS row ($kind) could not run"
				continue
			fi
			read -r held base loaded greet <<<"$res"
			per=$(echo "($loaded - $base) / $held" | bc -l)
			echo "$per" >>"$TMP/rss.$kind"
			[ "$kind" = tls ] && echo "$greet" >>"$TMP/greet"
			printf '  round %d %-5s: %d sessions, RSS %d -> %d KiB: %.1f KiB/session%s\n' \
				"$r" "$kind" "$held" "$base" "$loaded" "$per" \
				"${greet:+, greeting ${greet} ms after the handshake (median)}"
		done
	done
	printf 'RSS per idle TLS session (median):       %.1f KiB (target <= 64)\n' "$(median <"$TMP/rss.tls")"
	printf 'RSS per idle plaintext session (median): %.1f KiB\n' "$(median <"$TMP/rss.plain")"
fi

################ 2. TLS handshakes
# stime CERT ARGS...: one s_time run against a fresh-ish proxy ($PX_PID,
# $PX_TLS); prints "CONNS WALL_S PROXY_TICKS"
stime() {
	local t0 t1 c0 c1 n
	c0=$(ticks "$PX_PID")
	t0=$(date +%s.%N)
	n=$(timeout $((STIME + 30)) openssl s_time -connect "127.0.0.1:$PX_TLS" -time "$STIME" "$@" 2>&1 |
		sed -n 's/^\([0-9]*\) connections in [0-9.]*s;.*/\1/p' | tail -1)
	t1=$(date +%s.%N)
	c1=$(ticks "$PX_PID")
	[ -n "$n" ] && [ "$n" -gt 0 ] || return 1
	echo "$n $(echo "$t1 - $t0" | bc -l) $((c1 - c0))"
}
if ! skipped 2; then
	echo
	echo "2. TLS handshakes: openssl s_time -time $STIME against listen_tls (backend smtp-sink), $ROUNDS rounds"
	busy
	printf '  %-26s %12s %16s %18s\n' "certificate / mode" "handshakes/s" "proxy CPU/hs" "hs per proxy core-s"
	for cert in ec rsa; do
		start_proxy "hs-$cert" "$SINK" "$cert" || { row_failed "handshake proxy ($cert)"; continue; }
		for mode in "new TLS1.3:-new" "new TLS1.2:-new -tls1_2" "resumed TLS1.2:-reuse -tls1_2"; do
			label=${mode%%:*}
			: >"$TMP/hs.rate"
			: >"$TMP/hs.cpu"
			for ((r = 1; r <= ROUNDS; r++)); do
				# shellcheck disable=SC2086
				if ! res=$(stime ${mode#*:}); then
					row_failed "s_time $cert $label could not run"
					break
				fi
				read -r n wall tk <<<"$res"
				echo "$n / $wall" | bc -l >>"$TMP/hs.rate"
				echo "$tk * 1000000 / $HZ / $n" | bc -l >>"$TMP/hs.cpu"
			done
			rate=$(median <"$TMP/hs.rate")
			cpu=$(median <"$TMP/hs.cpu")
			[ "$cert" = ec ] && cn="ECDSA P-256" || cn="RSA 2048"
			printf '  %-26s %12.0f %13.0f us %18.0f\n' "$cn $label" "$rate" "$cpu" \
				"$(echo "1000000 / ($cpu + 0.001)" | bc -l)"
		done
		stop "$PX_PID"
		# reference: openssl s_server with the same certificate (no backend)
		PX_TLS=$(free_port)
		openssl s_server -accept "127.0.0.1:$PX_TLS" -cert "$TMP/$cert.pem" -key "$TMP/$cert.key" \
			-quiet -naccept 1000000 </dev/null >"$TMP/s_server.log" 2>&1 &
		PX_PID=$!
		PIDS+=("$PX_PID")
		if wait_port "$PX_TLS"; then
			for mode in "new TLS1.3:-new" "new TLS1.2:-new -tls1_2"; do
				label=${mode%%:*}
				: >"$TMP/hs.rate"
				: >"$TMP/hs.cpu"
				for ((r = 1; r <= ROUNDS; r++)); do
					# shellcheck disable=SC2086
					res=$(stime ${mode#*:}) || break
					read -r n wall tk <<<"$res"
					echo "$n / $wall" | bc -l >>"$TMP/hs.rate"
					echo "$tk * 1000000 / $HZ / $n" | bc -l >>"$TMP/hs.cpu"
				done
				rate=$(median <"$TMP/hs.rate")
				cpu=$(median <"$TMP/hs.cpu")
				[ "$cert" = ec ] && cn="ECDSA" || cn="RSA"
				printf '  %-26s %12.0f %13.0f us %18.0f\n' "s_server $cn $label" "$rate" "$cpu" \
					"$(echo "1000000 / ($cpu + 0.001)" | bc -l)"
			done
		fi
		stop "$PX_PID"
	done
	echo "  (s_server rows: openssl s_server -quiet with the same certificate, for reference;"
	echo "   each proxy handshake also opens and closes the proxy's backend connection to smtp-sink;"
	echo "   s_time does not resume TLS 1.3 sessions (it never reads the tickets), hence TLS 1.2 for -reuse)"
fi

################ 3. messages/s
# compare TITLE DIRECT_PORT DIRECT_MODE PROXY_PORT PROXY_MODE MSGS LEN [RCPT]:
# ROUNDS alternated tls_load runs each way (extra tls_load flags in
# $LOADFLAGS); proxy CPU from $PX_PID
LOADFLAGS=
compare() {
	local title=$1 dp=$2 dm=$3 pp=$4 pm=$5 msgs=$6 len=$7 rcpt=${8:-bench@example.test}
	local r d p c0 c1 out
	: >"$TMP/c.direct"
	: >"$TMP/c.proxied"
	c0=0
	for ((r = 1; r <= ROUNDS; r++)); do
		# shellcheck disable=SC2086
		if ! out=$(timeout 600 "$LOAD" $LOADFLAGS -s "$SESSIONS" -m "$msgs" -l "$len" -M "$dm" -r "$rcpt" "$dp" 2>&1); then
			row_failed "$title direct: $out"
			return 1
		fi
		d=$(awk '{print $6}' <<<"$out")
		c0=$((c0 - $(ticks "$PX_PID")))
		# shellcheck disable=SC2086
		if ! out=$(timeout 600 "$LOAD" $LOADFLAGS -s "$SESSIONS" -m "$msgs" -l "$len" -M "$pm" -r "$rcpt" "$pp" 2>&1); then
			row_failed "$title proxied: $out"
			return 1
		fi
		c0=$((c0 + $(ticks "$PX_PID")))
		p=$(awk '{print $6}' <<<"$out")
		echo "$d" >>"$TMP/c.direct"
		echo "$p" >>"$TMP/c.proxied"
		printf '    round %d: direct %.0f msg/s, proxied %.0f msg/s\n' "$r" "$d" "$p"
	done
	d=$(median <"$TMP/c.direct")
	p=$(median <"$TMP/c.proxied")
	printf '  %-44s direct %6.0f  proxied %6.0f msg/s  ratio %.2f  proxy CPU %.0f us/msg\n' \
		"$title" "$d" "$p" "$(echo "$p / $d" | bc -l)" \
		"$(echo "$c0 * 1000000 / $HZ / ($msgs * $ROUNDS)" | bc -l)"
}
if ! skipped 3; then
	echo
	echo "3. messages/s, $SESSIONS sessions, each connection reused; $ROUNDS alternated rounds"
	busy
	if [ ! -x /usr/sbin/postfix ]; then
		row_failed "Postfix is not installed: row 3 (Postfix) skipped"
	else
		. "$ROOT/tests/proxy/postfix.sh"
		if start_postfix "smtpd_tls_cert_file=$TMP/ec.pem" "smtpd_tls_key_file=$TMP/ec.key" \
			smtpd_tls_security_level=may smtpd_authorized_xclient_hosts=127.0.0.0/8 \
			smtpd_tls_loglevel=0; then
			start_proxy pfx "$PFX_PORT" ec "backend_xclient = yes" || row_failed "proxy for Postfix"
			echo "  Postfix (mail held, not delivered): client -STARTTLS-> Postfix vs client -STARTTLS-> proxy -XCLIENT-> Postfix"
			compare "STARTTLS, 1 KiB, $MSGS1K msgs, Postfix" "$PFX_PORT" starttls "$PX_PORT" starttls "$MSGS1K" 1024
			pfx_clear_held
			compare "STARTTLS, 100 KiB, $MSGS100K msgs, Postfix" "$PFX_PORT" starttls "$PX_PORT" starttls "$MSGS100K" 102400
			pfx_clear_held
			stop "$PX_PID"
		else
			row_failed "private Postfix did not start"
		fi
	fi
	ST=$(command -v stunnel4 || command -v stunnel)
	if [ -z "$ST" ]; then
		echo "  stunnel4 not installed: the smtp-sink comparison is skipped (apt-get install stunnel4)"
	else
		STP=$(free_port)
		cat >"$TMP/stunnel.conf" <<EOC
foreground = yes
pid =
debug = 3
output = $TMP/stunnel.log
[smtps]
accept = 127.0.0.1:$STP
connect = 127.0.0.1:$SINK
cert = $TMP/ec.pem
key = $TMP/ec.key
EOC
		"$ST" "$TMP/stunnel.conf" >"$TMP/stunnel.out" 2>&1 &
		PIDS+=($!)
		if wait_port "$STP" && start_proxy sinkpx "$SINK" ec; then
			echo "  smtp-sink: client -TLS-> stunnel4 -> smtp-sink vs client -TLS-> proxy listen_tls -> smtp-sink"
			compare "implicit TLS, 1 KiB, $MSGS1K msgs, smtp-sink" "$STP" implicit "$PX_TLS" implicit "$MSGS1K" 1024
			compare "implicit TLS, 100 KiB, $MSGS100K msgs, smtp-sink" "$STP" implicit "$PX_TLS" implicit "$MSGS100K" 102400
			echo "  reference, no TLS: client -> smtp-sink vs client -> proxy -> smtp-sink"
			compare "plaintext, 1 KiB, $MSGS1K msgs, smtp-sink" "$SINK" plain "$PX_PORT" plain "$MSGS1K" 1024
			stop "$PX_PID"
		else
			row_failed "stunnel4 or the proxy in front of smtp-sink did not start"
		fi
	fi
fi

################ 4. syscalls per message, plaintext proxy
# trace NAME MSGS CMD...: strace -c -f the proxy while CMD runs; prints the
# table with a calls-per-message column
trace() {
	local title=$1 msgs=$2 spid name
	shift 2
	name=$((++NTRACE))
	timeout -s INT 600 strace -c -f -p "$PX_PID" -o "$TMP/strace.$name" 2>"$TMP/strace.$name.err" &
	spid=$!
	PIDS+=("$spid")
	sleep 0.5
	if ! timeout 600 "$@" >"$TMP/load.$name" 2>&1; then
		row_failed "row 4 ($title): $(tail -3 "$TMP/load.$name")"
	fi
	kill -INT "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	echo "  $title: $msgs messages; syscalls by kind (calls per message):"
	awk -v m="$msgs" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
			name = $NF; calls = $4; if (calls !~ /^[0-9]+$/ || name == "total") next
			tot += calls; printf "    %-16s %9d  %6.2f/msg\n", name, calls, calls / m }
		/^-/ {sep++}
		END {printf "    %-16s %9d  %6.2f/msg\n", "total", tot, tot / m}' "$TMP/strace.$name" |
		sort -k2 -nr | head -16
}
# pcount TITLE MSGS CMD...: perf stat syscall tracepoints of the proxy while
# CMD runs at full speed (no strace slowdown); prints calls per message
PEV="raw_syscalls:sys_enter epoll_wait epoll_ctl recvfrom sendto read write accept4 connect close"
pcount() {
	local title=$1 msgs=$2 ppid ev name evs=""
	shift 2
	for ev in $PEV; do
		[[ $ev == *:* ]] && evs+=${evs:+,}$ev || evs+=${evs:+,}syscalls:sys_enter_$ev
	done
	name=$((++NTRACE))
	timeout -s INT 600 perf stat -x, -e "$evs" -p "$PX_PID" -o "$TMP/perf.$name" &
	ppid=$!
	PIDS+=("$ppid")
	sleep 0.5
	if ! timeout 600 "$@" >"$TMP/load.$name" 2>&1; then
		row_failed "row 4 ($title): $(tail -3 "$TMP/load.$name")"
	fi
	kill -INT "$ppid" 2>/dev/null
	wait "$ppid" 2>/dev/null
	printf '  %-52s' "$title:"
	awk -F, -v m="$msgs" '$3 ~ /sys_enter/ && $1 ~ /^[0-9]+$/ {
			n = $3; sub(/.*sys_enter_?/, "", n); if (n == "") n = "all"
			if ($1 > 0) printf " %s %.2f", n, $1 / m }' "$TMP/perf.$name"
	echo
}
NTRACE=0
if ! skipped 4; then
	echo
	echo "4. plaintext proxy syscalls per relayed message (strace -c -f; strace slows the proxy)"
	busy
	if ! command -v strace >/dev/null; then
		row_failed "strace not installed: row 4 skipped"
	elif start_proxy trace "$SINK" ec; then
		trace "smtp-source, 1 msg/connection" "$STRACE_MSGS" \
			smtp-source -s 20 -m "$STRACE_MSGS" -l 2048 -f bench@example.org -t sink@example.net \
			"127.0.0.1:$PX_PORT"
		trace "tls_load -M plain, $SESSIONS reused connections" "$STRACE_MSGS" \
			"$LOAD" -s "$SESSIONS" -m "$STRACE_MSGS" -l 2048 -M plain "$PX_PORT"
		trace "tls_load -M starttls, $SESSIONS reused connections" "$STRACE_MSGS" \
			"$LOAD" -s "$SESSIONS" -m "$STRACE_MSGS" -l 2048 -M starttls "$PX_PORT"
		if perf stat -e raw_syscalls:sys_enter -o /dev/null true 2>/dev/null; then
			echo "  at full speed: syscalls per message (perf stat -e syscalls:sys_enter_*; all = every syscall)"
			pcount "smtp-source -s 20, 1 msg/connection" "$STRACE_MSGS" \
				smtp-source -s 20 -m "$STRACE_MSGS" -l 2048 -f bench@example.org -t sink@example.net \
				"127.0.0.1:$PX_PORT"
			pcount "tls_load -M plain -s $SESSIONS" "$STRACE_MSGS" \
				"$LOAD" -s "$SESSIONS" -m "$STRACE_MSGS" -l 2048 -M plain "$PX_PORT"
			pcount "tls_load -M plain -s 1" 1000 "$LOAD" -s 1 -m 1000 -l 2048 -M plain "$PX_PORT"
			pcount "tls_load -M starttls -s $SESSIONS" "$STRACE_MSGS" \
				"$LOAD" -s "$SESSIONS" -m "$STRACE_MSGS" -l 2048 -M starttls "$PX_PORT"
		else
			echo "  perf cannot count syscall tracepoints here: full-speed counts skipped"
		fi
		echo "  one session, one message at a time (latency; no strace): client -> smtp-sink vs client -> proxy -> smtp-sink"
		SESSIONS=1 compare "plaintext, 1 KiB, body+dot in one write" "$SINK" plain "$PX_PORT" plain 200 1024
		SESSIONS=1 compare "plaintext, 100 KiB, body+dot in one write" "$SINK" plain "$PX_PORT" plain 200 102400
		SESSIONS=1 LOADFLAGS=-w compare "plaintext, 1 KiB, dot in a write of its own" "$SINK" plain "$PX_PORT" plain 200 1024
		SESSIONS=1 compare "STARTTLS to the proxy, 1 KiB, one write" "$SINK" plain "$PX_PORT" starttls 200 1024
		stop "$PX_PID"
	else
		row_failed "proxy for row 4"
	fi
fi
echo
busy
exit $rc
