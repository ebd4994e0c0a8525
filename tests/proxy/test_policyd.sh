#!/bin/bash
# mxlimit-policyd with a real Postfix as its policy client (check_policy_service
# on policyd's unix socket) and swaks / a raw SMTP client as the SMTP client,
# all on loopback: `-t`, [recipients] per SMTP connection (derived from
# Postfix's `instance` attribute), the rate sections, [rate_rcpt_host] by
# Postfix's verified client name, a policyd restart under a running Postfix
# (default_action=DUNNO), malformed / overlong / truncated / many concurrent
# policy requests sent directly, SIGHUP and SIGTERM (also while a request
# waits for a Redis that never answers).  Sent directly too (the
# Postfix attribute set, python): session derivation edge cases (seqno,
# second boundary, client_port, no instance, session_timeout, 70000 sessions
# against the 65536-entry table), lookups (allowlist = 0, IPv6 prefix, case
# folding), pipelined requests, DATA-stage requests, max_clients, a verdict
# daemon that starts late.  Verdicts go to a fake daemon (pxtool.py verdict).
#
# The whole file runs in a private mount namespace (it re-executes itself
# under `unshare --mount`), where a test /etc/hosts is bind-mounted: the
# Postfix started from here sees 127.0.0.2 as mx1.example.test (forward
# confirmed).  The real /etc/hosts is never modified.
# Needs root and Debian's postfix (a private instance, tests/proxy/postfix.sh).
if [ -z "${MXPD_IN_NS:-}" ] && [ "$(id -u)" = 0 ] &&
	unshare --mount --propagation private true 2>/dev/null; then
	export MXPD_IN_NS=1
	exec unshare --mount --propagation private -- bash "$0" "$@"
fi
. "$(dirname "$0")/pxlib.sh"
. "$PXDIR/postfix.sh"
MXPOLICYD=${MXPOLICYD:-$ROOT/$BUILD/mxlimit-policyd}
if [ ! -x "$MXPOLICYD" ]; then
	echo "1..0 # SKIP $MXPOLICYD not built"
	exit 0
fi
need_root "policyd with a private Postfix"
command -v swaks >/dev/null || { skip "policyd" "swaks not installed"; exit 0; }
[ -n "${MXPD_IN_NS:-}" ] || { skip "policyd" "unshare --mount unavailable"; exit 0; }
export PYTHONPATH=$PXDIR:$TMP

# --- the private /etc/hosts (this mount namespace only) ---
{
	cat /etc/hosts
	echo "127.0.0.2 mx1.example.test"
	echo "127.0.0.4 mx2.example.test"
} >"$TMP/hosts"
# no DNS at all: lookups of unnamed addresses fail fast and the same way
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$TMP/resolv.conf"
if ! mount --bind "$TMP/hosts" /etc/hosts || ! mount --bind "$TMP/resolv.conf" /etc/resolv.conf; then
	fail "bind-mount a test /etc/hosts in the private mount namespace"
	exit 1
fi
check_eq "private /etc/hosts: 127.0.0.2 is mx1.example.test (and back)" \
	"$(getent hosts 127.0.0.2 | awk '{print $2}') $(getent hosts mx1.example.test | awk '{print $1}')" \
	"mx1.example.test 127.0.0.2"

# wait_for N CMD...: as in tests/integration/lab.sh (0.1 s steps, bounded)
declare -F wait_for >/dev/null || wait_for() {
	local n=$1 i; shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
	"$@"
}

SOCK=$TMP/policyd.sock
VSOCK=$TMP/verdict.sock
VLOG=$TMP/verdicts
PD_PIDS=()
PD_LOGS=()
PD_PID=
PD_LOG=

# pd_ini NAME [policyd keys...] <<EOF sections EOF: a limit.ini whose
# [policyd] listens on $SOCK; prints its path.
pd_ini() {
	local name=$1 kv; shift
	{
		printf '[policyd]\nlisten = unix:%s\nverdict_socket = %s\n' "$SOCK" "$VSOCK"
		for kv in "$@"; do printf '%s\n' "$kv"; done
		cat
	} >"$TMP/$name.ini"
	echo "$TMP/$name.ini"
}

# pd_connectable PATH: a unix socket accepts connections (not just a file).
pd_connectable() {
	python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(1)
s.connect(sys.argv[1])' "$1" 2>/dev/null
}

# start_policyd INI [SOCKET]: run policyd -v; waits (5 s) until SOCKET
# (default $SOCK) accepts; $PD_PID, $PD_LOG.
start_policyd() {
	local ini=$1 sock=${2:-$SOCK} i
	PD_LOG=$TMP/policyd.${#PD_LOGS[@]}.log
	"$MXPOLICYD" -c "$ini" -v >"$PD_LOG" 2>&1 &
	PD_PID=$!
	PD_PIDS+=("$PD_PID")
	PD_LOGS+=("$PD_LOG")
	on_exit "kill $PD_PID; wait $PD_PID"
	for ((i = 0; i < 100; i++)); do
		pd_connectable "$sock" && return 0
		kill -0 "$PD_PID" 2>/dev/null || break
		sleep 0.05
	done
	sed 's/^/# policyd: /' "$PD_LOG" >&2
	return 1
}

# stop_policyd [SIGNAL]: stop $PD_PID, wait (5 s, then SIGKILL); $PD_RC.
stop_policyd() {
	local i
	kill "-${1:-TERM}" "$PD_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$PD_PID" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$PD_PID" 2>/dev/null
	wait "$PD_PID"
	PD_RC=$?
} 2>/dev/null

# swaks_to SRC FROM RCPTS: one SMTP session to the private Postfix; prints
# swaks's transcript (its "<-"/"<**" lines are the server's replies).
swaks_to() {
	timeout 40 swaks --server "127.0.0.1:$PFX_PORT" --local-interface "$1" \
		--from "$2" --to "$3" --timeout 20 --helo client.test 2>&1
}
# rcpt_codes TRANSCRIPT: the reply codes to RCPT, in order.
rcpt_codes() {
	awk '/^ -> RCPT TO/ { want = 1; next } want && /^<(-|\*\*) / { print $2; want = 0 }' <<<"$1" |
		tr '\n' ' ' | sed 's/ $//'
}

# wait_verdict REGEX: up to 5 s for a verdict line at the fake daemon.
wait_verdict() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -qE "$1" "$VLOG" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# A policy client speaking Postfix's protocol directly.
cat >"$TMP/pdc.py" <<'EOF'
import socket, sys
TIMEOUT = 10
def conn(path):
    fam = socket.AF_UNIX if path.startswith("/") else socket.AF_INET6 if path.count(":") > 1 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    if fam == socket.AF_UNIX:
        s.connect(path)
    else:
        h, p = path.rsplit(":", 1)
        s.connect((h, int(p)))
    return P(s)
def request(client="127.0.0.9", sender="s@sender.test", rcpt="r@example.test",
            instance="1a2b.6b000000.1.0", name="unknown", **kw):
    a = {"request": "smtpd_access_policy", "protocol_state": "RCPT",
         "protocol_name": "ESMTP", "client_address": client, "client_name": name,
         "client_port": "40000", "reverse_client_name": name,
         "server_address": "127.0.0.1", "server_port": "25",
         "helo_name": "client.test", "sender": sender, "recipient": rcpt,
         "recipient_count": "0", "queue_id": "", "instance": instance, "size": "0",
         "etrn_domain": "", "stress": "", "sasl_method": "", "sasl_username": "",
         "sasl_sender": "", "ccert_subject": "", "ccert_issuer": "",
         "ccert_fingerprint": "", "ccert_pubkey_fingerprint": "",
         "encryption_protocol": "", "encryption_cipher": "", "encryption_keysize": "0",
         "policy_context": ""}
    a.update(kw)
    return "".join("%s=%s\n" % kv for kv in a.items()) + "\n"
class P:
    def __init__(self, s):
        self.s, self.buf = s, b""
    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)
    def answer(self):
        """One answer: its attribute lines joined by ' '."""
        while b"\n\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        a, self.buf = self.buf.split(b"\n\n", 1)
        return a.decode("latin-1").replace("\n", " ")
    def ask(self, data):
        self.send(data)
        return self.answer()
    def action(self, **kw):
        """The action word/code of the answer to one request."""
        a = self.ask(request(**kw))
        return a.split("=", 1)[1].split(" ")[0] if a.startswith("action=") else "?" + a
    def closed(self, timeout=5):
        """True if policyd closes the connection (EOF or reset)."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True
EOF

# --- 1. -t --------------------------------------------------------------
cat >"$TMP/good.ini" <<EOF
[policyd]
listen = unix:$SOCK, 127.0.0.1:10099, [::1]:10099
socket_mode = 0660
verdict_socket = $VSOCK
idle_timeout = 60s
max_clients = 100
session_timeout = 30m
[recipients]
enabled = true
max = 20
[errors]
enabled = true
max = 5
[unrecognized_commands]
enabled = true
max = 7
[rate_rcpt_sender]
enabled = true
default = 50/5m
[penalty]
recipients = block 10m
EOF
out=$(timeout 10 "$MXPOLICYD" -t -c "$TMP/good.ini" 2>&1)
rc=$?
sed 's/^/# /' <<<"$out"
check_eq "-t on a good file: exit 0" "$rc" 0
check "-t on a good file: prints 'FILE: configuration ok'" \
	grep -qF "$TMP/good.ini: configuration ok" <<<"$out"
check "-t prints smtpd_hard_error_limit = 5 for [errors] max = 5" \
	grep -qE '^smtpd_hard_error_limit *= *5$' <<<"$out"
check "-t prints a check_policy_service line naming the unix socket" \
	grep -qE "check_policy_service.*unix:$SOCK" <<<"$out"
sed -i 's/^max = 7$/max = 4/' "$TMP/good.ini"
check "-t, [errors] max = 5 and [unrecognized_commands] max = 4: smtpd_hard_error_limit = 4 (Postfix counts both together)" \
	grep -qE '^smtpd_hard_error_limit *= *4$' <<<"$(timeout 10 "$MXPOLICYD" -t -c "$TMP/good.ini" 2>&1)"
bad_t() { # NAME LINE-NO [policyd] body...: -t exits 2 naming FILE:LINE
	local name=$1 line=$2 f=$TMP/bad-$RANDOM.ini out rc; shift 2
	printf '[policyd]\n' >"$f"
	printf '%s\n' "$@" >>"$f"
	out=$(timeout 10 "$MXPOLICYD" -t -c "$f" 2>&1)
	rc=$?
	sed 's/^/# /' <<<"$out"
	check_eq "-t, $name: exit 2" "$rc" 2
	check "-t, $name: the error names $f:$line" grep -qF "$f:$line" <<<"$out"
}
bad_t "listen = nonsense" 3 "verdict_socket =" "listen = nonsense"
bad_t "an unknown key in [policyd]" 3 "listen = unix:$SOCK" "frobnicate = 1"
bad_t "socket_mode = 999 (not octal)" 3 "listen = unix:$SOCK" "socket_mode = 999"
bad_t "idle_timeout = 0" 3 "listen = unix:$SOCK" "idle_timeout = 0"

# --- the private Postfix: check_policy_service on policyd's socket -------
if ! start_postfix "smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service { unix:$SOCK, default_action=DUNNO, timeout=10s }"; then
	fail "a private Postfix instance starts (see above)"
	exit 1
fi
# One smtpd process for the listener: every SMTP connection below is served
# by the same smtpd (same pid in `instance`), the case where policyd must
# tell connections apart by the instance's sequence number alone.
_pfx_conf -F "127.0.0.1:$PFX_PORT/inet/process_limit = 1" &&
	/usr/sbin/postfix -c "$PFX_DIR" reload >/dev/null 2>&1
sleep 1
wait_port "$PFX_PORT"
check "Postfix's smtpd is not chrooted (absolute policy socket path reachable)" \
	bash -c "! /usr/sbin/postconf -c '$PFX_DIR' -F '*/*/chroot' | grep -q '= y$'"
ok "a private Postfix smtpd listens on 127.0.0.1:$PFX_PORT"
start_verdict "$VSOCK" "$VLOG"

# --- 2. [recipients] max = 2 per SMTP connection -------------------------
ini=$(pd_ini rcpt <<'EOF'
[recipients]
enabled = true
max = 2
[penalty]
recipients = block 10m
EOF
)
start_policyd "$ini" || fail "policyd starts (rcpt)"
check_eq "policy socket 0660 root:postfix by default (only Postfix may name clients)" \
	"$(stat -c '%a %U:%G' "$SOCK" 2>/dev/null)" "660 root:postfix"
check_eq "another local user (nobody) cannot connect, so cannot name a client to block" \
	"$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c "
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect('$SOCK'); print('connected')
except PermissionError:
    print('refused')" 2>&1)" refused
out=$(swaks_to 127.0.0.1 s2@sender.test r1@example.test,r2@example.test,r3@example.test)
check_eq "swaks, 3 recipients: 250 250 452" "$(rcpt_codes "$out")" "250 250 452"
check "the third gets Postfix's '452 4.5.3 ... Error: too many recipients'" \
	grep -qE '^<\*\* 452 4\.5\.3 .*Error: too many recipients' <<<"$out"
check "the message is accepted (DATA 250)" grep -qE '^<-  250 2\.0\.0 Ok: queued' <<<"$out"
check_eq "held message has exactly the first two recipients" \
	"$(pfx_held_recipients | tr '\n' ' ')" "r1@example.test r2@example.test "
check "verdict: BLOCK 127.0.0.1 600 ... reason=recipients" \
	wait_verdict '^BLOCK 127\.0\.0\.1 600( .*)? reason=recipients'
pfx_clear_held
# two messages on one connection (1 recipient, an aborted MAIL, then 2),
# then new connections on the same smtpd process start again from 0
out=$(py "
def msg(c, rcpts, data=True):
    r = [c.cmd('MAIL FROM:<s2b@sender.test>')[:3]]
    r += [c.cmd('RCPT TO:<%s@example.test>' % x)[:3] for x in rcpts]
    if data and '250' in r[1:]:
        c.cmd('DATA'); c.send('Subject: t\r\n\r\nbody\r\n.\r\n'); r.append(c.code())
    return ' '.join(r)
c = Client($PFX_PORT); c.cmd('EHLO client.test')
print(msg(c, ['m1']), '|', c.cmd('MAIL FROM:<s2b@sender.test>')[:3], c.cmd('RSET')[:3], '|', msg(c, ['m2', 'm3']))
c.cmd('QUIT')
c = Client($PFX_PORT); c.cmd('EHLO client.test')
print(msg(c, ['n1', 'n2', 'n3']))
c.cmd('QUIT')
c = Client($PFX_PORT); c.cmd('EHLO client.test')
c.cmd('MAIL FROM:<s2b@sender.test>'); c.cmd('RSET')
print(msg(c, ['o1', 'o2'], data=False))
c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
check_eq "one connection: msg 1 (1 rcpt) ok; msg 2: 1st rcpt 250, 2nd (3rd on the connection) 452" \
	"$(sed -n 1p <<<"$out")" "250 250 250 | 250 250 | 250 250 452 250"
check_eq "a new connection starts from 0: 250 250, the 3rd 452" \
	"$(sed -n 2p <<<"$out")" "250 250 250 452 250"
check_eq "a new connection whose first MAIL had no RCPT (seqno 1 first) starts from 0 too" \
	"$(sed -n 3p <<<"$out")" "250 250 250"
check_eq "those connections were all served by one smtpd process" \
	"$(grep -oE 'smtpd\[[0-9]+\]: connect from' "$PFX_LOG" | tail -4 | sort -u | wc -l)" 1
check_eq "held: m1 / m2 / n1 n2" "$(pfx_held_recipients | tr '\n' ' ')" \
	"m1@example.test m2@example.test n1@example.test n2@example.test "
stop_policyd
check_eq "policyd: SIGTERM exits 0" "$PD_RC" 0

# the policy connection closed (policyd's idle_timeout = 1s) in the middle
# of an SMTP session: Postfix reconnects, the session's count goes on
ini=$(pd_ini rcpt-idle "idle_timeout = 1s" <<'EOF'
[recipients]
enabled = true
max = 2
EOF
)
start_policyd "$ini" || fail "policyd starts (rcpt-idle)"
out=$(py "
import time
c = Client($PFX_PORT); c.cmd('EHLO client.test'); c.cmd('MAIL FROM:<s2c@sender.test>')
r = [c.cmd('RCPT TO:<i1@example.test>')[:3]]
time.sleep(1.8)
r += [c.cmd('RCPT TO:<i%d@example.test>' % i)[:3] for i in (2, 3)]
c.cmd('QUIT')
print(' '.join(r))
")
check_eq "policy connection closed mid-session (idle 1s): 250, then 250 452 over a new one" "$out" "250 250 452"
check "policyd logged closing the idle policy connection" grep -q 'idle' "$PD_LOG"
stop_policyd

# --- 3. rates across connections -----------------------------------------
ini=$(pd_ini rates "socket_mode = 0660" "socket_group = postfix" <<'EOF'
[rate_rcpt_sender]
enabled = true
default = 3/1h
[rate_rcpt_null]
enabled = true
default = 1/1h
[rate_rcpt]
enabled = true
hot@example.test = 2/1h
[penalty]
rate_rcpt_sender = penalize 10m limit=1
EOF
)
start_policyd "$ini" || fail "policyd starts (rates)"
check_eq "socket_mode = 0660, socket_group = postfix: the socket is 660 root:postfix" \
	"$(stat -c '%a %U:%G' "$SOCK")" "660 root:postfix"
codes=""
for i in 1 2 3 4; do
	out=$(swaks_to 127.0.0.1 s3@sender.test "q$i@example.test")
	codes+="$(rcpt_codes "$out") "
done
check_eq "[rate_rcpt_sender] 3/1h: 4 connections, 1 recipient each: 250 250 250 450" "$codes" "250 250 250 450 "
check "the 4th gets '450 4.7.1 ... recipient rate limit exceeded'" \
	grep -qE '^<\*\* 450 4\.7\.1 .*recipient rate limit exceeded, try again later' <<<"$out"
check "verdict: PENALIZE 127.0.0.1 600 limit=1 reason=rate_rcpt_sender" \
	wait_verdict '^PENALIZE 127\.0\.0\.1 600 (.* )?limit=1( .*)? reason=rate_rcpt_sender'
check_eq "another sender has its own counter" \
	"$(rcpt_codes "$(swaks_to 127.0.0.1 other3@sender.test q5@example.test)")" 250
codes=""
for r in n1 n1 n2 n3 n4 n5; do
	codes+="$(rcpt_codes "$(swaks_to 127.0.0.1 '<>' "$r@example.test")") "
done
check_eq "null sender, [rate_rcpt_null] 1/1h per recipient: n1 250, n1 450, n2..n5 250 (not under [rate_rcpt_sender])" \
	"$codes" "250 450 250 250 250 250 "
codes=""
for s in h1 h2 h3; do
	codes+="$(rcpt_codes "$(swaks_to 127.0.0.1 "$s@sender.test" hot@example.test)") "
done
check_eq "[rate_rcpt] hot@example.test = 2/1h: 250 250 450" "$codes" "250 250 450 "
stop_policyd

# --- 4. [rate_rcpt_host] by Postfix's verified client_name ---------------
ini=$(pd_ini names <<'EOF'
[rate_rcpt_host]
enabled = true
example.test = 1/1h
EOF
)
start_policyd "$ini" || fail "policyd starts (names)"
c1=$(rcpt_codes "$(swaks_to 127.0.0.2 s4@sender.test a1@example.test)")
c2=$(rcpt_codes "$(swaks_to 127.0.0.2 s4@sender.test a2@example.test)")
check "Postfix saw the client as mx1.example.test[127.0.0.2]" \
	grep -qF 'connect from mx1.example.test[127.0.0.2]' "$PFX_LOG"
check_eq "mx1.example.test under 'example.test = 1/1h': 1st 250, 2nd 450" "$c1 $c2" "250 450"
check_eq "mx2.example.test shares that one counter (explicit lookup): 450" \
	"$(rcpt_codes "$(swaks_to 127.0.0.4 s4@sender.test a3@example.test)")" 450
codes=""
for i in 1 2 3; do
	codes+="$(rcpt_codes "$(swaks_to 127.0.0.3 s4@sender.test "b$i@example.test")") "
done
check "a client without a name: connect from unknown[127.0.0.3]" \
	grep -qF 'connect from unknown[127.0.0.3]' "$PFX_LOG"
check_eq "... is not limited by the name lookup: 250 250 250" "$codes" "250 250 250 "
stop_policyd

# --- 5. policyd killed and restarted under a running Postfix -------------
ini=$(pd_ini restart <<'EOF'
[recipients]
enabled = true
max = 1
EOF
)
start_policyd "$ini" || fail "policyd starts (restart)"
check_eq "before: max = 1: 250 452" \
	"$(rcpt_codes "$(swaks_to 127.0.0.1 s5@sender.test g1@example.test,g2@example.test)")" "250 452"
stop_policyd KILL
lines=$(wc -l <"$PFX_LOG")
out=$(swaks_to 127.0.0.1 s5@sender.test g3@example.test,g4@example.test)
check_eq "policyd down (SIGKILL): default_action=DUNNO, both recipients 250" "$(rcpt_codes "$out")" "250 250"
check "... and the message is accepted" grep -qE '^<-  250 2\.0\.0 Ok: queued' <<<"$out"
check "Postfix logged a warning about the policy server" \
	bash -c "tail -n +$((lines + 1)) '$PFX_LOG' | grep -qE 'warning: .*(policyd\.sock|problem talking to server)'"
tail -n +$((lines + 1)) "$PFX_LOG" | grep warning | head -3 | sed 's/^/# /'
start_policyd "$ini" || fail "policyd starts again over the stale socket file of the killed one"
timeout 10 "$MXPOLICYD" -c "$ini" >"$TMP/second.log" 2>&1
rc=$?
sed 's/^/# second policyd: /' "$TMP/second.log"
check "a second policyd on the live socket refuses to start (exit $rc)" [ "$rc" != 0 ] && [ "$rc" != 124 ]
check "... and leaves the first one's socket alone" pd_connectable "$SOCK"
check_eq "after the restart the limit applies again: 250 452" \
	"$(rcpt_codes "$(swaks_to 127.0.0.1 s5@sender.test g5@example.test,g6@example.test)")" "250 452"
stop_policyd

# --- 6. malformed, overlong, truncated and many concurrent requests ------
# (sent directly; a second socket plus a TCP listener, idle_timeout 2s)
PORT6=$(free_port)
SOCK6=$TMP/pd6.sock
cat >"$TMP/direct.ini" <<EOF
[policyd]
listen = unix:$SOCK6, 127.0.0.1:$PORT6, [::1]:$PORT6
verdict_socket =
idle_timeout = 2s
session_timeout = 2s
[recipients]
enabled = true
max = 2
127.0.3.5 = 0
2001:db8::/32 = 1
[rate_rcpt_sender]
enabled = true
fold@example.com = 1/1h
EOF
start_policyd "$TMP/direct.ini" "$SOCK6" || fail "policyd starts (direct)"
wait_port "$PORT6" || fail "policyd listens on 127.0.0.1:$PORT6 too"
out=$(timeout 60 python3 -c "
from pdc import *
import threading, time
S = '$SOCK6'
p = conn(S)
print(p.ask('hello world\n\n'), '|', p.ask('request=frobnicate\nfoo=bar\n\n'), '|',
      p.action(instance='77.1.1.0', rcpt='x1@example.test'))
p = conn('127.0.0.1:$PORT6')
print('tcp', p.action(instance='78.1.1.0'), p.action(instance='78.1.1.0'), p.action(instance='78.1.1.0'))
p = conn(S)
try:
    p.send(''.join('x%d=%s\n' % (i, 'y' * 1000) for i in range(100)))
except OSError:
    pass
print('big', p.closed())
p = conn(S)
try:
    p.send('request=smtpd_access_policy\nx=' + 'z' * 9000 + '\n')
except OSError:
    pass
print('longline', p.closed())
p = conn(S)
# just under the limits: an 8000-byte line in a ~60 kB request is answered
print('nearlimit', p.action(instance='76.1.1.0', ccert_subject='c' * 8000,
      **{'x_pad%d' % i: 'p' * 1000 for i in range(52)}))
# odd but complete requests: a NUL byte, UTF-8 addresses, a bad address, a bad instance
print('odd', p.ask(request(instance='75.1.1.0', sender='a\0b@x.test')).split(' ')[0],
      p.action(instance='75.1.1.1', sender='\u00fcser@ex\u00e4mple.com', rcpt='r\u00e9@example.test'),
      p.action(instance='74.1.1.0', client='not-an-ip'), p.action(instance='zz.1'),
      p.action(instance='73.1.1.0', client='::ffff:127.0.0.9'))
p = conn(S)
p.send('request=smtpd_access_policy\nprotocol_state=RCPT\nclient_addr')
p.s.close()
p = conn(S)
print('after', p.action(instance='79.1.1.0'))
p = conn(S)
t = time.monotonic(); c = p.closed(6); print('idle', c, round(time.monotonic() - t))
res = []
def worker(i):
    try:
        q = conn(S)
        a = [q.action(instance='%x.1.1.0' % (1000 + i), client='127.0.1.%d' % (i % 250)) for _ in range(5)]
        res.append(' '.join(a))
    except Exception as e:
        res.append('error %r' % e)
th = [threading.Thread(target=worker, args=(i,)) for i in range(200)]
[x.start() for x in th]; [x.join(30) for x in th]
print('concurrent', len(res), sum(r == 'DUNNO DUNNO 452 452 452' for r in res))
print('bad', [r for r in res if r != 'DUNNO DUNNO 452 452 452'][:3])
p = conn(S)
# a later message crossing a second boundary (usec smaller) continues it
print('rollover', p.action(instance='81.64.f423f.0'), p.action(instance='81.65.1.1'), p.action(instance='81.65.1.1'))
# the same 4-tuple and pid, seqno back to 0: a new session
print('seq0', p.action(instance='81.66.1.0'), p.action(instance='81.66.1.0'), p.action(instance='81.66.1.0'))
# the same instance from another client port: another session
print('port', p.action(instance='81.66.1.0', client_port='40001'))
# no instance at all: keyed by the addresses
print('noinst', p.action(instance='', client='127.0.2.1'), p.action(instance='', client='127.0.2.1'), p.action(instance='', client='127.0.2.1'))
print('noinst2', p.action(instance='', client='127.0.2.2'))
p.action(instance='82.1.1.0'); p.action(instance='82.1.1.0')
time.sleep(2.6)
p = conn(S)
print('timeout', p.action(instance='82.1.1.0'))
p = conn(S)
print('allow', p.action(instance='83.1.1.0', client='127.0.3.5'), p.action(instance='83.1.1.0', client='127.0.3.5'),
      p.action(instance='83.1.1.0', client='127.0.3.5'), p.action(instance='83.1.1.0', client='127.0.3.5'))
print('v6', p.action(instance='84.1.1.0', client='2001:db8::5'), p.action(instance='84.1.1.0', client='2001:db8::5'))
print('fold', p.action(instance='85.1.1.0', sender='Fold@Example.COM'), p.action(instance='86.1.1.0', sender='fold@example.com'))
p.send(request(instance='87.1.1.0', client='127.0.5.1') * 3)
print('pipelined', p.answer(), '|', p.answer(), '|', p.answer())
print('states', p.action(instance='88.1.1.0'), p.action(instance='88.1.1.0', protocol_state='DATA'),
      p.action(instance='88.1.1.0', protocol_state='END-OF-MESSAGE'), p.action(instance='88.1.1.0'),
      p.action(instance='88.1.1.0'))
try:
    q = conn('[::1]:$PORT6'.replace('[', '').replace(']', ''))
except Exception as e:
    print('v6listen error', e)
# more sessions than the table holds (65536): pipelined batches of 200
p = conn(S)
print('early', p.action(instance='a0000.1.1.0', client='127.0.6.1'))
M = ('request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.6.2\nclient_port=1\n'
     'server_address=127.0.0.1\nserver_port=25\nsender=s@x.test\nrecipient=r@example.test\ninstance=%x.1.1.0\n\n')
t = time.monotonic(); n = 0
for b in range(0, 70000, 200):
    p.send(''.join(M % (0x100000 + i) for i in range(b, b + 200)))
    n += sum(p.answer() == 'action=DUNNO' for _ in range(200))
print('flood', n, round(time.monotonic() - t, 1))
print('lastflood', p.action(instance='%x.1.1.0' % (0x100000 + 69999), client='127.0.6.2', client_port='1', sender='s@x.test', rcpt='r@example.test'),
      p.action(instance='%x.1.1.0' % (0x100000 + 69999), client='127.0.6.2', client_port='1', sender='s@x.test', rcpt='r@example.test'))
print('evicted', p.action(instance='a0000.1.1.0', client='127.0.6.1'), p.action(instance='a0000.1.1.0', client='127.0.6.1'))
p = conn(S)
print('final', p.action(instance='80.1.1.0'), p.action(instance='80.1.1.0'), p.action(instance='80.1.1.0'))
" 2>&1)
sed 's/^/# /' <<<"$out"
check_eq "garbage line -> action=DUNNO; unknown request= -> action=DUNNO; a real request -> DUNNO" \
	"$(sed -n 1p <<<"$out")" "action=DUNNO | action=DUNNO | DUNNO"
check_eq "the TCP listener: DUNNO DUNNO 452" "$(grep '^tcp' <<<"$out")" "tcp DUNNO DUNNO 452"
check_eq "an 8000-byte line in a 60 kB request is answered" "$(grep '^nearlimit' <<<"$out")" "nearlimit DUNNO"
check_eq "NUL byte, UTF-8 addresses, a bad client address, a bad instance, a v4-mapped client: all answered" \
	"$(grep '^odd' <<<"$out")" "odd action=DUNNO DUNNO DUNNO DUNNO DUNNO"
check_eq "a 100 kB request: the connection is closed" "$(grep '^big' <<<"$out")" "big True"
check_eq "a 9 kB line: the connection is closed" "$(grep '^longline' <<<"$out")" "longline True"
check_eq "after a request cut in the middle, the next client gets its answer" \
	"$(grep '^after' <<<"$out")" "after DUNNO"
check "an idle policy connection is closed after idle_timeout = 2s" \
	grep -qE '^idle True [23]$' <<<"$out"
check_eq "200 concurrent policy connections x 5 requests: all answered" \
	"$(grep '^concurrent' <<<"$out")" "concurrent 200 200"
check_eq "70000 sessions (table holds 65536): every request answered DUNNO" "$(grep '^flood' <<<"$out" | cut -d' ' -f1-2)" "flood 70000"
check_eq "the newest of them still counts (its 2nd recipient passes, the 3rd is 452)" "$(grep '^lastflood' <<<"$out")" "lastflood DUNNO 452"
check_eq "the oldest session was forgotten (lenient: counts restart)" "$(grep '^evicted' <<<"$out")" "evicted DUNNO DUNNO"
check_eq "afterwards policyd still decides: DUNNO DUNNO 452" "$(grep '^final' <<<"$out")" "final DUNNO DUNNO 452"
check_eq "instance crossing a second boundary (sec+1, smaller usec, seqno+1) continues the session" \
	"$(grep '^rollover' <<<"$out")" "rollover DUNNO DUNNO 452"
check_eq "seqno back to 0 on the same pid and 4-tuple: a new session" "$(grep '^seq0' <<<"$out")" "seq0 DUNNO DUNNO 452"
check_eq "another client_port: another session" "$(grep '^port' <<<"$out")" "port DUNNO"
check_eq "requests without instance: one session per address set" \
	"$(grep '^noinst' <<<"$out" | tr '\n' ' ')" "noinst DUNNO DUNNO 452 noinst2 DUNNO "
check_eq "session_timeout = 2s: a session unseen for 2.6 s is forgotten" "$(grep '^timeout' <<<"$out")" "timeout DUNNO"
check_eq "[recipients] '127.0.3.5 = 0': unlimited for that client" "$(grep '^allow' <<<"$out")" "allow DUNNO DUNNO DUNNO DUNNO"
check_eq "[recipients] '2001:db8::/32 = 1' for client 2001:db8::5: DUNNO 452" "$(grep '^v6 ' <<<"$out")" "v6 DUNNO 452"
check_eq "sender lookups fold case: Fold@Example.COM then fold@example.com (1/1h): DUNNO 450" \
	"$(grep '^fold' <<<"$out")" "fold DUNNO 450"
check_eq "three requests in one write: three answers in order" "$(grep '^pipelined' <<<"$out")" \
	"pipelined action=DUNNO | action=DUNNO | action=452 4.5.3 Error: too many recipients"
check_eq "DATA / END-OF-MESSAGE requests: DUNNO, not counted as recipients" "$(grep '^states' <<<"$out")" \
	"states DUNNO DUNNO DUNNO DUNNO 452"
check "the [::1] listener accepts" bash -c "! grep -q '^v6listen error' <<<'$out'"
check "policyd is alive after all that" kill -0 "$PD_PID"
check "policyd logged the malformed requests" \
	grep -qiE 'malformed|invalid|unknown request|without|too long|too large|overlong|exceed' "$PD_LOG"
stop_policyd
check_eq "policyd (direct): SIGTERM exits 0" "$PD_RC" 0

# max_clients = 3: a 4th policy connection is refused, a freed slot reused
SOCKM=$TMP/pdm.sock
printf '[policyd]\nlisten = unix:%s\nverdict_socket =\nmax_clients = 3\n' "$SOCKM" >"$TMP/maxc.ini"
start_policyd "$TMP/maxc.ini" "$SOCKM" || fail "policyd starts (max_clients)"
out=$(timeout 30 python3 -c "
from pdc import *
import time
ps = [conn('$SOCKM') for _ in range(3)]
print([p.action(instance='%x.1.1.0' % (300 + i)) for i, p in enumerate(ps)])
q = conn('$SOCKM')
try:
    q.send(request(instance='400.1.1.0'))
except OSError:
    pass
print('fourth closed', q.closed(3))
ps[0].s.close()
time.sleep(0.3)
print('reuse', conn('$SOCKM').action(instance='401.1.1.0'), ps[1].action(instance='301.1.1.0'))
" 2>&1)
sed 's/^/# /' <<<"$out"
check_eq "max_clients = 3: three connections answered" "$(sed -n 1p <<<"$out")" "['DUNNO', 'DUNNO', 'DUNNO']"
check_eq "the 4th policy connection is closed" "$(grep '^fourth' <<<"$out")" "fourth closed True"
check_eq "after one closes, a new connection is served; the others still are" \
	"$(grep '^reuse' <<<"$out")" "reuse DUNNO DUNNO"
check "policyd logged max_clients" grep -q 'max_clients' "$PD_LOG"
stop_policyd

# the verdict daemon starts late: the verdict is queued, then delivered once
SOCKL=$TMP/pdl.sock
printf '[policyd]\nlisten = unix:%s\nverdict_socket = %s\n[recipients]\nenabled = true\nmax = 1\n[penalty]\nrecipients = penalize 10m limit=2\n' \
	"$SOCKL" "$TMP/late-v.sock" >"$TMP/late.ini"
start_policyd "$TMP/late.ini" "$SOCKL" || fail "policyd starts (late verdict daemon)"
check_eq "no verdict daemon yet: DUNNO 452 452" "$(timeout 20 python3 -c "
from pdc import *
p = conn('$SOCKL')
print(p.action(client='203.0.113.51', instance='1.1.1.0'), p.action(client='203.0.113.51', instance='1.1.1.0'),
      p.action(client='203.0.113.51', instance='1.1.1.0'))" 2>&1)" "DUNNO 452 452"
sleep 0.5
start_verdict "$TMP/late-v.sock" "$TMP/late-vlog"
late() { grep -qE '^PENALIZE 203\.0\.113\.51 600 (.* )?limit=2( .*)? reason=recipients' "$TMP/late-vlog" 2>/dev/null; }
check "the queued verdict reaches the daemon once it is up (10 s)" wait_for 100 late
sleep 0.3
check_eq "one verdict per session and kind" "$(cat "$TMP/late-vlog" 2>/dev/null | wc -l)" 1
stop_policyd

# --- 7. SIGHUP applies a changed limit, keeps open policy connections ----
ini=$(pd_ini hup <<'EOF'
[recipients]
enabled = true
max = 2
EOF
)
start_policyd "$ini" || fail "policyd starts (hup)"
check_eq "before SIGHUP: max = 2: 250 250" \
	"$(rcpt_codes "$(swaks_to 127.0.0.1 s7@sender.test h1@example.test,h2@example.test)")" "250 250"
coproc HUPC { timeout 60 python3 -u -c "
from pdc import *
import sys
p = conn('$SOCK')
print('before', p.action(instance='90.1.1.0'), flush=True)
sys.stdin.readline()
try:
    print('after', p.action(instance='91.1.1.0'), p.action(instance='91.1.1.0'), flush=True)
except Exception as e:
    print('after error', repr(e), flush=True)
" 2>&1; }
read -r -t 15 line <&"${HUPC[0]}"
check_eq "an open policy connection answers before SIGHUP" "$line" "before DUNNO"
sed -i 's/^max = 2$/max = 1/' "$ini"
kill -HUP "$PD_PID"
sleep 1
echo go >&"${HUPC[1]}"
read -r -t 15 line <&"${HUPC[0]}"
check_eq "the same connection after SIGHUP (max 2 -> 1): DUNNO 452" "$line" "after DUNNO 452"
check_eq "Postfix after SIGHUP: 250 452" \
	"$(rcpt_codes "$(swaks_to 127.0.0.1 s7@sender.test h3@example.test,h4@example.test)")" "250 452"
sed -i 's/^enabled = true$/enabled = maybe/' "$ini"
badline=$(grep -n '^enabled = maybe$' "$ini" | cut -d: -f1)
nlog=$(wc -l <"$PD_LOG")
kill -HUP "$PD_PID"
sleep 1
check "a bad file on SIGHUP: an error naming $ini:$badline is logged" \
	bash -c "tail -n +$((nlog + 1)) '$PD_LOG' | grep -qF '$ini:$badline'"
check "... and policyd keeps running" kill -0 "$PD_PID"
check_eq "... with the old policy (max = 1): 250 452" \
	"$(rcpt_codes "$(swaks_to 127.0.0.1 s7@sender.test h5@example.test,h6@example.test)")" "250 452"
nlog=$(wc -l <"$PD_LOG")
kill -USR1 "$PD_PID"
sleep 0.5
check "SIGUSR1 logs counters" bash -c "tail -n +$((nlog + 1)) '$PD_LOG' | grep -q 'requests'"
stop_policyd
check_eq "SIGTERM: exit status 0" "$PD_RC" 0

# --- 8. a request waiting for Redis when its connection or policyd goes ---
# A fake Redis: answers PING, SELECT, AUTH, HELLO and CLIENT; holds every
# other command (EVAL) unanswered, so a request waits for the 60 s timeout.
cat >"$TMP/mute_redis.py" <<'EOF'
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
def serve(c):
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            return
        buf += d
        while True:  # one whole RESP array: its arguments
            try:
                i = buf.index(b"\r\n"); p = i + 2; args = []
                for _ in range(int(buf[1:i])):
                    j = buf.index(b"\r\n", p); n = int(buf[p + 1:j])
                    args.append(buf[j + 2:j + 2 + n]); p = j + 4 + n
                    if p > len(buf):
                        raise ValueError
            except ValueError:
                break
            buf = buf[p:]
            cmd = args[0].upper()
            if cmd == b"PING":
                c.sendall(b"+PONG\r\n")
            elif cmd in (b"SELECT", b"AUTH", b"HELLO", b"CLIENT"):
                c.sendall(b"+OK\r\n")
            else:
                print("held", cmd.decode(), flush=True)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
EOF
RPORT=$(free_port) PORT8=$(free_port) SOCKR=$TMP/pdr.sock
bg mute_redis timeout 300 python3 "$TMP/mute_redis.py" "$RPORT"
wait_port "$RPORT" || fail "the fake Redis starts"
cat >"$TMP/redis.ini" <<EOF
[policyd]
listen = unix:$SOCKR, 127.0.0.1:$PORT8
verdict_socket =
[redis]
host = 127.0.0.1
port = $RPORT
timeout = 60s
[rate_rcpt_host]
enabled = true
default = 100/1m
EOF
redis_up() { grep -q 'redis 127.0.0.1:[0-9]*: connected' "$PD_LOG"; }
# held N: the fake Redis holds N commands
held() { [ "$(grep -c '^held ' "$TMP/mute_redis.out")" -ge "$1" ]; }
start_policyd "$TMP/redis.ini" "$SOCKR" || fail "policyd starts (a Redis that never answers)"
check "policyd connects to the fake Redis" wait_for 50 redis_up
# A peer gone while its request waits: nothing is read then, so no read
# sees the reset (TCP) or the close (unix socket), and epoll reports
# HUP/ERR whatever the interest: policyd once spun at 100% CPU until the
# Redis timeout.  Each peer goes once its EVAL has reached Redis.
conns_zero() { [ "$(usr1_count "$PD_PID" "$PD_LOG" connections)" = 0 ]; }
out=$(timeout 30 python3 -c "
from pdc import *
import struct, time
def held(n):
    for _ in range(200):
        if open('$TMP/mute_redis.out').read().count('held ') >= n:
            return True
        time.sleep(0.05)
n = open('$TMP/mute_redis.out').read().count('held ')
p = conn('127.0.0.1:$PORT8')
p.send(request(instance='a1.1.1.0'))
print('tcp', held(n + 1))
p.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
p.s.close()
p = conn('$SOCKR')
p.send(request(instance='a2.1.1.0'))
print('unix', held(n + 2))
p.s.close()
" 2>&1)
check_eq "two requests wait for Redis (TCP, unix socket)" "$(tr '\n' ' ' <<<"$out")" "tcp True unix True "
check "a TCP reset and a unix-socket close while they wait: both connections closed (10 s)" \
	wait_for 20 conns_zero
check_eq "... each logged once" "$(grep -c 'closed while its request waited for Redis' "$PD_LOG")" 2
# SIGTERM with a request still waiting: the connections close first, then
# the Redis client, which calls back for the request: it once wrote to the
# freed connection (SIGSEGV).
n=$(grep -c '^held ' "$TMP/mute_redis.out")
coproc WAITC { timeout 30 python3 -u -c "
from pdc import *
import sys
p = conn('$SOCKR')
p.send(request(instance='a3.1.1.0'))
sys.stdin.readline()
" 2>&1; }
check "a request waits for Redis" wait_for 100 held $((n + 1))
stop_policyd
echo go >&"${WAITC[1]}"
check_eq "SIGTERM while a request waits for Redis: exit status 0" "$PD_RC" 0

bad=0
for f in "${PD_LOGS[@]}"; do
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$f"; then
		sed -n '1,40p' "$f" >&2
		bad=1
	fi
done
check_eq "no sanitizer report in any policyd log" "$bad" 0
check "no policyd log line without the 'mxlimit-policyd: ' prefix" \
	bash -c "! cat ${PD_LOGS[*]} | grep -v '^mxlimit-policyd: ' | grep -q ."
exit $T_FAILED
