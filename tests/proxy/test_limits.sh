#!/bin/bash
# Limits with haraka-plugin-limit semantics: [recipients] (pipelined),
# [unrecognized_commands], [errors], the four rate sections with their
# lookup orders, fixed windows, the tarpit and its cap, and the verdicts
# [penalty] sends to a (fake) mxlimit daemon, also when it starts late.
# Clients use distinct loopback sources (127.0.0.x) to get fresh counters.
. "$(dirname "$0")/pxlib.sh"

CAP=$(free_port)
start_capture "$CAP" "$TMP/cap"
VSOCK=$TMP/verdict.sock
VLOG=$TMP/verdicts
start_verdict "$VSOCK" "$VLOG"

# proxy_with NAME [extra proxy keys...] <<EOF policy EOF: starts a proxy on
# a fresh port for one scenario; sets $PX.
proxy_with() {
	local name=$1; shift
	PX=$(free_port)
	{
		printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\nverdict_socket = %s\n' \
			"$PX" "$CAP" "$VSOCK"
		for kv in "$@"; do printf '%s\n' "$kv"; done
		cat
	} >"$TMP/$name.ini"
	start_proxy "$TMP/$name.ini"
}

# wait_verdict REGEX: up to 5 s for a verdict line.
wait_verdict() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -qE "$1" "$VLOG" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# --- [recipients] max = 3, pipelined: 3 pass, the rest 452 4.5.3 ---
proxy_with rcpt <<'EOF'
[recipients]
enabled = true
max = 3
[penalty]
recipients = penalize 10m
EOF
out=$(py "
c = Client($PX, src='127.0.0.2')
c.cmd('EHLO x')
c.send('MAIL FROM:<a@b.c>\r\n' + ''.join('RCPT TO:<r%d@d.e>\r\n' % i for i in range(5)) + 'NOOP\r\n')
print(' '.join(c.reply()[:9] for _ in range(7)))
c.cmd('QUIT')
")
check_eq "pipelined RCPTs: 3 pass, 4th and 5th 452 4.5.3" "$out" \
	"250 2.1.0 250 2.1.5 250 2.1.5 250 2.1.5 452 4.5.3 452 4.5.3 250 2.0.0"
check_eq "refused recipients never reached the backend" \
	"$(grep -c '^RCPT TO:<r[34]@' "$TMP/cap/commands")" 0
check "verdict: PENALIZE 127.0.0.2 600 reason=recipients" \
	wait_verdict '^PENALIZE 127\.0\.0\.2 600 reason=recipients$'
check_eq "one verdict per violation kind and session" \
	"$(grep -c 'reason=recipients' "$VLOG")" 1

# --- [unrecognized_commands] max = 2: the 3rd gets 421 and a disconnect ---
proxy_with unrec <<'EOF'
[unrecognized_commands]
enabled = true
max = 2
[errors]
enabled = true
max = 2
[penalty]
unrecognized_commands = block 1h
errors = penalize 1h limit=1
EOF
out=$(py "
c = Client($PX, src='127.0.0.3')
print(c.cmd('FOO')[:3], c.cmd('BAR')[:3], c.cmd('XCLIENT A=B')[:9])
print(c.closed())
")
check "2 unknown verbs answered by the backend, 3rd (refused by the proxy) 421" \
	grep -q '^502 502 421 4.7.0$' <<<"$out"
check "disconnected after too many unrecognized commands" grep -q '^True' <<<"$out"
check "verdict: BLOCK 127.0.0.3 3600 reason=unrecognized_commands" \
	wait_verdict '^BLOCK 127\.0\.0\.3 3600 reason=unrecognized_commands$'

out=$(py "
c = Client($PX, src='127.0.0.4')
c.cmd('EHLO x')
print(c.cmd('RCPT TO:<a@b>')[:3], c.cmd('DATA')[:3], c.cmd('MAIL FROM:<a@b>')[:3], c.cmd('MAIL FROM:<a@b>')[:9])
print(c.closed())
")
check "out-of-order commands: 503 503 250, 3rd error 421" grep -q '^503 503 250 421 4.7.0$' <<<"$out"
check "disconnected after too many errors" grep -q '^True' <<<"$out"
check "verdict: PENALIZE 127.0.0.4 3600 limit=1 reason=errors" \
	wait_verdict '^PENALIZE 127\.0\.0\.4 3600 limit=1 reason=errors$'

# the error that passes the limit is multi-line: its 421 replaces the whole
# reply (RFC 5321 4.2.1: one code per reply), no "501-" line before it
out=$(py "
c = Client($PX, src='127.0.0.14')
print(c.cmd('XMULTI'))
print(c.cmd('XMULTI'))
print(c.cmd('XMULTI'))
print(c.closed())
")
check_eq "a multi-line error reply reaches the client whole" "$(sed -n 1p <<<"$out")" \
	"501-5.5.4 first line of a long refusal|501-5.5.4 second line|501 5.5.4 last line"
check "the one over the limit: only the proxy's 421, no continuation line of the 501" \
	grep -qx '421 4.7.0 [^|]*too many errors' <<<"$(sed -n 3p <<<"$out")"
check_eq "and the session is closed" "$(sed -n 4p <<<"$out")" True

# a backend that asks for data nobody announced is out of step: the proxy
# ends the session rather than guess what the client's next bytes are
out=$(py "
c = Client($PX, src='127.0.0.15')
print(c.cmd('XSTRAY')[:9])
print(c.closed())
")
check_eq "stray 354 from the backend: 421 4.4.2, closed" "$(tr '\n' ' ' <<<"$out")" "421 4.4.2 True "
# a complete reply that could never fit the client's buffer is refused
# at once, not left to wait for room that never comes
out=$(py "
c = Client($PX, src='127.0.0.16')
print(c.cmd('XLFWALL')[:9])
print(c.closed())
")
check_eq "oversized multi-line reply: 421 4.4.2, closed" "$(tr '\n' ' ' <<<"$out")" "421 4.4.2 True "

# --- rate sections: full address, domain suffixes, default, allowlist ---
proxy_with rates 'tarpit_max_sessions = 100' <<'EOF'
[main]
tarpit_delay = 1
[rate_rcpt_sender]
enabled = true
default = 2/1m
example.com = 3/1m
vip@example.com = 0
[rate_rcpt_host]
enabled = true
default = 4/1m
127.0.0.9 = 0
[penalty]
rate_rcpt_sender = penalize 5m
EOF
# send_rcpts SRC SENDER N [RCPT_PREFIX]: codes of N recipients, one session each
send_rcpts() {
	py "
out = []
for i in range($3):
    c = Client($PX, src='$1')
    c.cmd('EHLO x'); c.cmd('MAIL FROM:<$2>')
    out.append(c.cmd('RCPT TO:<${4:-u}%d@dest.test>' % i)[:3])
    c.close()
print(' '.join(out))
"
}
check_eq "sender default: 2 pass, 3rd 450" "$(send_rcpts 127.0.0.10 a@other.org 3)" "250 250 450"
check_eq "another sender has its own default counter" \
	"$(send_rcpts 127.0.0.11 b@other.org 2)" "250 250"
check_eq "domain lookup: example.com's 3 shared by its addresses" \
	"$(send_rcpts 127.0.0.12 x@example.com 2) $(send_rcpts 127.0.0.13 y@sub.example.com 2)" \
	"250 250 250 450"
check_eq "full address lookup: vip@example.com = 0 is unlimited (past 2 and 3)" \
	"$(send_rcpts 127.0.0.14 vip@example.com 4)" "250 250 250 250"
check_eq "rate reply is 450 4.7.1 (DENYSOFT)" "$(py "
c = Client($PX, src='127.0.0.10'); c.cmd('EHLO x'); c.cmd('MAIL FROM:<a@other.org>')
print(c.cmd('RCPT TO:<z@dest.test>')[:9])")" "450 4.7.1"
check "verdict: PENALIZE 127.0.0.10 300 reason=rate_rcpt_sender" \
	wait_verdict '^PENALIZE 127\.0\.0\.10 300 reason=rate_rcpt_sender$'
check_eq "host default: 4 per host, then 450" \
	"$(send_rcpts 127.0.0.20 vip@example.com 3) $(send_rcpts 127.0.0.20 vip@example.com 2 v)" \
	"250 250 250 250 450"
check_eq "host allowlisted (= 0): unlimited" "$(send_rcpts 127.0.0.9 vip@example.com 6 w)" \
	"250 250 250 250 250 250"

# --- rate_rcpt (by recipient) and rate_rcpt_null, with a short fixed window ---
proxy_with rcptrate <<'EOF'
[rate_rcpt]
enabled = true
default = 2/6s
[rate_rcpt_null]
enabled = true
default = 1/1m
EOF
check_eq "rate_rcpt: 2 per recipient, 3rd 450" "$(send_rcpts 127.0.0.30 s@a.test 1 same; \
	send_rcpts 127.0.0.31 t@b.test 1 same; send_rcpts 127.0.0.32 u@c.test 1 same)" "250
250
450"
check_eq "rate_rcpt: other recipient unaffected" "$(send_rcpts 127.0.0.33 s@a.test 1 other)" "250"
# the window (6 s: three connections fit it also on a loaded machine)
# opened with the first; wait until it is surely over
sleep 6.2
check_eq "rate_rcpt: fixed window over, recipient accepted again" \
	"$(send_rcpts 127.0.0.34 s@a.test 1 same)" "250"
check_eq "rate_rcpt_null: 1 bounce per recipient, 2nd 450" "$(py "
out = []
for s in ['', '', 'real@a.test']:
    c = Client($PX); c.cmd('EHLO x'); c.cmd('MAIL FROM:<%s>' % s)
    out.append(c.cmd('RCPT TO:<bounce@dest.test>')[:3]); c.close()
print(' '.join(out))")" "250 450 250"

# --- tarpit: only after a violation, and capped at tarpit_max_sessions ---
proxy_with tarpit 'tarpit_max_sessions = 1' <<'EOF'
[main]
tarpit_delay = 1
[rate_rcpt_host]
enabled = true
default = 1/1m
EOF
out=$(py "
import threading
a = Client($PX, src='127.0.0.40'); b = Client($PX, src='127.0.0.41'); n = Client($PX, src='127.0.0.42')
for c in (a, b, n):
    c.cmd('EHLO x'); c.cmd('MAIL FROM:<s@x.test>'); c.cmd('RCPT TO:<1@y.test>')
t = now()
print('a', a.cmd('RCPT TO:<2@y.test>')[:3], now() - t >= 0.9)     # violation: tarpitted
print('b', b.cmd('RCPT TO:<2@y.test>')[:3])                        # violation, cap reached
order = []
def ask(name, c):
    c.cmd('NOOP'); order.append(name)
th = [threading.Thread(target=ask, args=(x, c)) for x, c in (('a', a), ('b', b), ('n', n))]
[x.start() for x in th]; [x.join() for x in th]
print('order', order[-1])
t = now(); a.cmd('NOOP'); print('a-noop', now() - t >= 0.9)
")
check "violation reply is 450 after the tarpit delay" grep -q '^a 450 True' <<<"$out"
check "second violator past tarpit_max_sessions: not tarpitted" grep -q '^b 450' <<<"$out"
check "tarpitted session answered last" grep -q '^order a' <<<"$out"
check "every later reply to the tarpitted client is delayed" grep -q '^a-noop True' <<<"$out"

# --- verdict daemon down: the proxy serves on, queues, delivers on restart ---
kill "$VERDICT_PID"; wait "$VERDICT_PID" 2>/dev/null
rm -f "$VSOCK"
proxy_with late <<'EOF'
[recipients]
enabled = true
max = 1
[penalty]
recipients = block 10m
EOF
out=$(py "
c = Client($PX, src='127.0.0.50'); c.cmd('EHLO x'); c.cmd('MAIL FROM:<a@b.c>')
print(c.cmd('RCPT TO:<1@x>')[:3], c.cmd('RCPT TO:<2@x>')[:3])
print(message('a@b.c', ['ok@x'], b'Subject: still\r\n\r\nserving', $PX)[:3])
")
check "daemon down: limits still enforced" grep -q '^250 452' <<<"$out"
check "daemon down: mail still flows" grep -q '^250$' <<<"$out"
start_verdict "$VSOCK" "$VLOG"
check "daemon back: queued verdict delivered (backoff retry)" \
	wait_verdict '^BLOCK 127\.0\.0\.50 600 reason=recipients$'
check "proxy logged the daemon outage" grep -q 'verdict socket .* unavailable' "$PROXY_LOG"

finish
