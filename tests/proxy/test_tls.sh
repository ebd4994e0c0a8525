#!/bin/bash
# TLS termination in mxlimit-proxy: `-t` with certificates (and each broken
# certificate / key / count), STARTTLS and implicit TLS (listen_tls) with
# swaks, openssl s_client and a python ssl client (tls_client.py), to
# smtp-sink, the capture backend (pxtool.py) and a private Postfix
# (postfix.sh: XCLIENT hand-off, PROXY v2 with its SSL TLV); the STARTTLS
# rules (capability rewriting, CVE-2011-0411 pipelining, EHLO again, TLS
# already active, in a transaction, tls_required); every limit inside TLS;
# SNI and RSA/ECDSA by signature algorithms; tls_protocols; handshake
# timeout, garbage, 1000 half-open handshakes; AUTH, BDAT, 300 kB DATA;
# SIGHUP certificate reload; IPv6. Certificates are made at run time in $TMP.
. "$(dirname "$0")/pxlib.sh"
command -v swaks >/dev/null || { echo "1..0 # SKIP swaks not installed"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl not installed"; exit 0; }
command -v smtp-sink >/dev/null || { echo "1..0 # SKIP smtp-sink not installed"; exit 0; }
T0=$(date +%s)
ulimit -n 8192 2>/dev/null || true

# tpy SCRIPT: inline python with smtpc and tls_client importable.
tpy() { timeout 90 python3 -c "from smtpc import *
from tls_client import *
import ssl, socket, time
$1" 2>&1; }

# has TEXT ERE / hasnt TEXT ERE / between NUM LO HI
has() { grep -qE -- "$2" <<<"$1"; }
hasnt() { ! grep -qE -- "$2" <<<"$1"; }
between() { awk -v x="${1:-x}" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x ~ /^[0-9.]+$/ && x + 0 >= lo && x + 0 <= hi) }'; }

# wait_for N CMD...: up to N tenths of a second for CMD to succeed.
wait_for() {
	local n=$1 i; shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
	"$@"
}

# --- certificates ---------------------------------------------------------
# mkcert NAME CN KIND(rsa|ec) ORG: $TMP/NAME.pem and $TMP/NAME.key
mkcert() {
	local alg
	if [ "$3" = ec ]; then alg=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
	else alg=(-newkey rsa:2048); fi
	openssl req -x509 "${alg[@]}" -nodes -days 2 -keyout "$TMP/$1.key" -out "$TMP/$1.pem" \
		-subj "/CN=$2/O=$4" -addext "subjectAltName=DNS:$2" >/dev/null 2>&1
}
mkcert rsa mx.example.test rsa MXRSA &
mkcert ec mx.example.test ec MXECDSA &
mkcert other smtp.other.test rsa OTHER &
mkcert h1 mx.example.test rsa HUPFIRST &
mkcert h2 mx.example.test rsa HUPSECOND &
wait
chmod 644 "$TMP"/*.pem "$TMP"/*.key
CERTS="tls_cert = $TMP/rsa.pem, $TMP/ec.pem, $TMP/other.pem
tls_key = $TMP/rsa.key, $TMP/ec.key, $TMP/other.key"

# --- 1. -t ---------------------------------------------------------------
# tcheck NAME WANT_RC REGEX <<EOF ini EOF: mxlimit-proxy -t exits WANT_RC
# and its output matches REGEX (fixed string).
n_t=0
tcheck() {
	local name=$1 want=$2 re=$3 f out rc
	f=$TMP/t$((++n_t)).ini
	cat >"$f"
	out=$(timeout 20 "$MXPROXY" -t -c "$f" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && grep -qF -- "$re" <<<"$out"; then ok "-t: $name"
	else fail "-t: $name (rc $rc, want $want; output: $(tr '\n' ' ' <<<"$out" | cut -c1-300))"; fi
}
base="[proxy]
listen = 127.0.0.1:2525
backend = 127.0.0.1:2526
verdict_socket = none"
echo garbage >"$TMP/notpem.pem"
tcheck "good config with 3 certificates" 0 "configuration ok (certificates and keys loaded)" <<EOF
$base
$CERTS
listen_tls = 127.0.0.1:2465
EOF
check "-t: ... the line names the file" has "$(timeout 20 "$MXPROXY" -t -c "$TMP/t1.ini" 2>&1)" \
	"^$TMP/t1.ini: configuration ok \(certificates and keys loaded\)$"
tcheck "missing cert file: exit 2, names it" 2 "$TMP/nope.pem" <<EOF
$base
tls_cert = $TMP/nope.pem
tls_key = $TMP/rsa.key
EOF
tcheck "missing cert file: 'No such file or directory'" 2 "tls_cert $TMP/nope.pem: No such file or directory" <"$TMP/t2.ini"
tcheck "missing key file: exit 2, names it" 2 "$TMP/nope.key" <<EOF
$base
tls_cert = $TMP/rsa.pem
tls_key = $TMP/nope.key
EOF
tcheck "cert not PEM: exit 2, names it" 2 "$TMP/notpem.pem" <<EOF
$base
tls_cert = $TMP/notpem.pem
tls_key = $TMP/rsa.key
EOF
tcheck "key not PEM: exit 2, names it" 2 "$TMP/notpem.pem" <<EOF
$base
tls_cert = $TMP/rsa.pem
tls_key = $TMP/notpem.pem
EOF
tcheck "key does not match cert: exit 2, names both" 2 "tls_key $TMP/other.key does not match tls_cert $TMP/rsa.pem" <<EOF
$base
tls_cert = $TMP/rsa.pem
tls_key = $TMP/other.key
EOF
tcheck "second pair mismatched (ECDSA cert, RSA key)" 2 "tls_key $TMP/rsa.key does not match tls_cert $TMP/ec.pem" <<EOF
$base
tls_cert = $TMP/rsa.pem, $TMP/ec.pem
tls_key = $TMP/rsa.key, $TMP/rsa.key
EOF
tcheck "tls_cert count != tls_key count" 2 "tls_cert" <<EOF
$base
tls_cert = $TMP/rsa.pem, $TMP/ec.pem
tls_key = $TMP/rsa.key
EOF
tcheck "listen_tls without certificates" 2 "listen_tls" <<EOF
$base
listen_tls = 127.0.0.1:2465
EOF
tcheck "tls_required without certificates" 2 "tls_required" <<EOF
$base
tls_required = yes
EOF
tcheck "backend_xclient with proxy_protocol" 2 "backend_xclient" <<EOF
$base
$CERTS
backend_xclient = yes
proxy_protocol = v2
EOF
tcheck "tls_protocols with a gap" 2 "tls_protocols" <<EOF
$base
$CERTS
tls_protocols = TLSv1.1, TLSv1.3
EOF
tcheck "relative cert path refused" 2 "tls_cert" <<EOF
$base
tls_cert = rsa.pem
tls_key = $TMP/rsa.key
EOF

# --- peers -----------------------------------------------------------------
SINK=$(free_port)
start_sink "$SINK"
CAP=$(free_port)
start_capture "$CAP" "$TMP/cap"
CAPV2=$(free_port)
start_capture "$CAPV2" "$TMP/capv2" --proxy v2
VSOCK=$TMP/verdict.sock
VLOG=$TMP/verdicts
start_verdict "$VSOCK" "$VLOG"
wait_verdict() { wait_for 50 grep -qE "$1" "$VLOG"; }

# --- 2. swaks / openssl s_client through the proxy to smtp-sink -----------
S1=$(free_port) S2=$(free_port) S16=$(free_port) S26=$(free_port)
cat >"$TMP/s.ini" <<EOF
[proxy]
listen = 127.0.0.1:$S1, [::1]:$S16
listen_tls = 127.0.0.1:$S2, [::1]:$S26
backend = 127.0.0.1:$SINK
verdict_socket = none
$CERTS
[recipients]
enabled = true
max = 2
EOF
start_proxy "$TMP/s.ini" || fail "proxy (smtp-sink backend) starts"
# sw ARGS...: swaks with bounded time
sw() { timeout 40 swaks --timeout 20 --helo client.test --from s@sender.test "$@" 2>&1; }
# A body far larger than the proxy's buffers, in one write: OpenSSL's
# read-ahead takes more off the socket than cin holds, and those bytes make
# no epoll event (a session once stalled here with its data inside OpenSSL).
big_tls() { # PORT MB -> the reply to the dot, or "stalled"
	timeout 30 python3 -u - "$1" "$2" <<'PY' 2>&1 | tail -1
import socket, ssl, sys
port, mb = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="mx.example.test")
f = t.makefile("rb")
def reply():
    while True:
        l = f.readline()
        if l[3:4] != b"-":
            return l
reply()
for c in (b"EHLO x", b"MAIL FROM:<a@b.test>", b"RCPT TO:<c@example.test>", b"DATA"):
    t.sendall(c + b"\r\n"); reply()
try:
    t.sendall((b"x" * 76 + b"\r\n") * (mb * 13443) + b".\r\n")
    print(reply().decode().strip())
except socket.timeout:
    print("stalled")
PY
}
check_eq "a 16 MB body in one write over listen_tls reaches the backend (no stall)" \
	"$(big_tls "$S2" 16)" "250 2.0.0 Ok"
# rcpt_codes TRANSCRIPT: the reply codes to RCPT, in order (plain or TLS)
rcpt_codes() {
	awk '/^ [-~]> RCPT TO/ { want = 1; next } want && /^<[-~*][-~*]? / { print $2; want = 0 }' <<<"$1" |
		tr '\n' ' ' | sed 's/ $//'
}
# final_code TRANSCRIPT: the reply to the message's final dot
final_code() { awk '/^ [-~]> \.$/ { want = 1; next } want && /^<[-~*][-~*]? / { print $2; want = 0 }' <<<"$1"; }
# tls_250 TRANSCRIPT: TLS was started and the message accepted
tls_250() { grep -q '^=== TLS started' <<<"$1" && [ "$(final_code "$1")" = 250 ]; }
is_250() { [ "$(final_code "$1")" = 250 ]; }
# second_ehlo_line_starttls TRANSCRIPT: the plaintext EHLO reply's 2nd line
second_ehlo_line_starttls() { grep -E '^<-  250' <<<"$1" | sed -n 2p | grep -qx '<-  250-STARTTLS'; }
no_tls_starttls() { ! grep -q '^<~  250.STARTTLS' <<<"$1"; }

out=$(sw --server "127.0.0.1:$S1" --tls --to a1@example.test)
check "swaks --tls (STARTTLS): TLS started" grep -q '^=== TLS started with cipher' <<<"$out"
check_eq "swaks --tls: message accepted inside TLS" "$(final_code "$out")" 250
check "swaks --tls: before TLS the EHLO reply offers STARTTLS as its 2nd line" \
	second_ehlo_line_starttls "$out"
check "swaks --tls: no STARTTLS offered inside TLS" no_tls_starttls "$out"
out=$(sw --server "127.0.0.1:$S2" --tlsc --to a2@example.test)
check "swaks --tlsc (listen_tls): TLS from the first byte" grep -q '^=== TLS started with cipher' <<<"$out"
check_eq "swaks --tlsc: message accepted" "$(final_code "$out")" 250
check "swaks --tlsc: greeting arrived inside TLS" grep -q '^<~  220 ' <<<"$out"
check "swaks --tlsc: no STARTTLS offered" no_tls_starttls "$out"
out=$( (printf 'EHLO client.test\r\n'; sleep 0.4; printf 'MAIL FROM:<o@sender.test>\r\n'; sleep 0.3
	printf 'RCPT TO:<o1@example.test>\r\n'; sleep 0.3; printf 'DATA\r\n'; sleep 0.3
	printf 'Subject: s_client\r\n\r\nhello\r\n.\r\n'; sleep 0.4; printf 'QUIT\r\n'; sleep 0.3) |
	timeout 20 openssl s_client -starttls smtp -connect "127.0.0.1:$S1" -quiet -nocommands 2>&1)
check "openssl s_client -starttls smtp: message accepted (250 after the dot)" \
	grep -q '^250 2.0.0 Ok' <<<"$(grep -v '^250-\|^depth\|^verify' <<<"$out" | sed -n '/^354/,$p')"
check "openssl s_client -starttls smtp: 221 at QUIT" grep -q '^221' <<<"$out"
out=$(sw --server "127.0.0.1:$S1" --tls --to m1@example.test,m2@example.test,m3@example.test)
check_eq "[recipients] max = 2 inside STARTTLS (swaks): 250 250 452" "$(rcpt_codes "$out")" "250 250 452"
check "... the 3rd is 452 4.5.3 Error: too many recipients" grep -q '^<~\* 452 4.5.3 Error: too many recipients' <<<"$out"
out=$(sw --server "127.0.0.1:$S2" --tlsc --to m1@example.test,m2@example.test,m3@example.test)
check_eq "[recipients] max = 2 inside listen_tls (swaks): 250 250 452" "$(rcpt_codes "$out")" "250 250 452"
check "... the 3rd is 452 4.5.3" grep -q '^<~\* 452 4.5.3' <<<"$out"

# --- 7. IPv6 ---------------------------------------------------------------
out=$(sw -6 --server ::1 --port "$S16" --tls --to v6a@example.test)
check "IPv6 [::1] listen + STARTTLS (swaks -6): TLS, accepted"  tls_250 "$out"
out=$(sw -6 --server ::1 --port "$S26" --tlsc --to v6b@example.test)
check "IPv6 [::1] listen_tls (swaks -6 --tlsc): TLS, accepted"  tls_250 "$out"

# --- without certificates: no STARTTLS of the proxy's own -------------------
N1=$(free_port)
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\nverdict_socket = none\n' "$N1" "$SINK" >"$TMP/n.ini"
start_proxy "$TMP/n.ini" || fail "proxy without certificates starts"
out=$(py "
c = Client($N1)
print(c.cmd('EHLO x')); c.cmd('QUIT')")
check "no certificates: the EHLO reply (smtp-sink offers none) has no STARTTLS" \
	bash -c "grep -q '^250-' <<<'$out' && ! grep -q STARTTLS <<<'$out'"

# --- the main TLS proxy: capture backend, limits, verdicts -----------------
C1=$(free_port) C2=$(free_port)
cat >"$TMP/c.ini" <<EOF
[proxy]
listen = 127.0.0.1:$C1
listen_tls = 127.0.0.1:$C2
backend = 127.0.0.1:$CAP
verdict_socket = $VSOCK
max_clients = 1200
$CERTS
[recipients]
enabled = true
max = 2
[errors]
enabled = true
max = 2
[unrecognized_commands]
enabled = true
max = 2
[rate_rcpt_sender]
enabled = true
default = 0
rl@rate.test = 2/1m
[penalty]
recipients = penalize 10m
errors = penalize 1h limit=1
unrecognized_commands = block 1h
EOF
start_proxy "$TMP/c.ini" || fail "proxy (capture backend) starts"
CLOG=$PROXY_LOG
CPID=$PROXY_PID

# --- 3. the STARTTLS rules --------------------------------------------------
out=$(tpy "
c = TClient($C1)
print('plain', c.cmd('EHLO x'))
print('starttls', c.starttls())
print('tls', c.tls_version())
print('mail-before-ehlo', c.cmd('MAIL FROM:<a@sender.test>'))
print('ehlo', c.cmd('EHLO x'))
print('again', c.cmd('STARTTLS'))
print('mail', c.cmd('MAIL FROM:<a@sender.test>'))
print('rcpt', c.cmd('RCPT TO:<r@example.test>'))
c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
check_eq "EHLO before TLS: the proxy's STARTTLS after the first line, the backend's removed" \
	"$(grep '^plain' <<<"$out")" "plain 250-capture|250-STARTTLS|250-PIPELINING|250-CHUNKING|250-AUTH LOGIN|250 8BITMIME"
check_eq "STARTTLS answered by the proxy" "$(grep '^starttls' <<<"$out")" "starttls 220 2.0.0 Ready to start TLS"
check "the handshake negotiates TLSv1.2 or TLSv1.3" grep -qE '^tls TLSv1\.[23]$' <<<"$out"
check_eq "after the handshake MAIL before EHLO: 503 5.5.1 send HELO/EHLO first" \
	"$(grep '^mail-before-ehlo' <<<"$out")" "mail-before-ehlo 503 5.5.1 Error: send HELO/EHLO first"
check_eq "EHLO inside TLS: no STARTTLS at all" "$(grep '^ehlo' <<<"$out")" \
	"ehlo 250-capture|250-PIPELINING|250-CHUNKING|250-AUTH LOGIN|250 8BITMIME"
check_eq "STARTTLS inside TLS: 503 5.5.1 Error: TLS already active" "$(grep '^again' <<<"$out")" \
	"again 503 5.5.1 Error: TLS already active"
check_eq "MAIL/RCPT inside TLS reach the backend" "$(grep -E '^(mail|rcpt) ' <<<"$out" | tr '\n' ' ')" \
	"mail 250 2.1.0 Ok rcpt 250 2.1.5 Ok "

out=$(tpy "
c = TClient($C1)
c.cmd('EHLO x')
print('starttls', c.starttls(b'MAIL FROM:<evil@x.test>\r\nRCPT TO:<evil@example.test>\r\n'))
print('leftover', repr(c.leftover))
print('ehlo', c.cmd('EHLO x')[:3])
print('mail', c.cmd('MAIL FROM:<good@x.test>'))
print('rcpt', c.cmd('RCPT TO:<good@example.test>'))
print('noop', c.cmd('NOOP'))
c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
check_eq "pipelined STARTTLS+MAIL: 220" "$(grep '^starttls' <<<"$out")" "starttls 220 2.0.0 Ready to start TLS"
check_eq "... nothing but the 220 in plaintext" "$(grep '^leftover' <<<"$out")" "leftover b''"
check_eq "... the pipelined MAIL was discarded: a new MAIL is 250 (no nested MAIL)" \
	"$(grep -E '^(ehlo|mail|rcpt|noop)' <<<"$out" | tr '\n' ' ')" "ehlo 250 mail 250 2.1.0 Ok rcpt 250 2.1.5 Ok noop 250 2.0.0 Ok "
sleep 0.3
check_eq "... the backend never saw evil@" "$(grep -c evil "$TMP/cap/commands")" 0

out=$(tpy "
c = TClient($C1)
c.cmd('EHLO x')
print('mail', c.cmd('MAIL FROM:<t@sender.test>')[:3])
print('intx', c.cmd('STARTTLS'))
print('rset', c.cmd('RSET')[:3])
print('starttls', c.starttls()[:3], c.tls_version() is not None)
print('ehlo', c.cmd('EHLO x')[:3])
c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
check_eq "STARTTLS in a MAIL transaction: 503 5.5.1 Error: MAIL transaction in progress" \
	"$(grep '^intx' <<<"$out")" "intx 503 5.5.1 Error: MAIL transaction in progress"
check_eq "... after RSET, STARTTLS works" "$(grep '^starttls' <<<"$out")" "starttls 220 True"

out=$(tpy "
c = TClient($C2, implicit=True)
print('ehlo', c.cmd('EHLO x'))
print('stls', c.cmd('STARTTLS'))
c.cmd('QUIT')
")
check_eq "listen_tls: EHLO offers no STARTTLS (backend's removed)" "$(grep '^ehlo' <<<"$out")" \
	"ehlo 250-capture|250-PIPELINING|250-CHUNKING|250-AUTH LOGIN|250 8BITMIME"
check_eq "listen_tls: STARTTLS gets 503 5.5.1 Error: TLS already active" "$(grep '^stls' <<<"$out")" \
	"stls 503 5.5.1 Error: TLS already active"

# HELO (not EHLO) also satisfies "EHLO again"; STARTTLS with an argument
out=$(tpy "
c = TClient($C1)
c.cmd('EHLO x')
print('arg', c.cmd('STARTTLS now')[:3])
c.starttls()
print('helo', c.cmd('HELO x')[:3], c.cmd('MAIL FROM:<h@sender.test>')[:3])
c.cmd('QUIT')
")
check_eq "STARTTLS with an argument: 501" "$(grep '^arg' <<<"$out")" "arg 501"
check_eq "HELO after TLS then MAIL: 250 250" "$(grep '^helo' <<<"$out")" "helo 250 250"

# --- 2. limits inside TLS (python client, both modes) ----------------------
out=$(tpy "
for mode, port, impl, src in (('starttls', $C1, False, '127.0.0.21'), ('implicit', $C2, True, '127.0.0.22')):
    c = TClient(port, implicit=impl, src=src)
    c.cmd('EHLO x')
    if not impl:
        c.starttls(); c.cmd('EHLO x')
    c.cmd('MAIL FROM:<p@sender.test>')
    print(mode, ' '.join(c.cmd('RCPT TO:<q%d@example.test>' % i)[:9] for i in range(3)), c.cmd('NOOP')[:3])
    c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
check_eq "[recipients] max = 2 inside STARTTLS: 250 250 452 4.5.3, session goes on" \
	"$(grep '^starttls' <<<"$out")" "starttls 250 2.1.5 250 2.1.5 452 4.5.3 250"
check_eq "[recipients] max = 2 inside listen_tls: 250 250 452 4.5.3" \
	"$(grep '^implicit' <<<"$out")" "implicit 250 2.1.5 250 2.1.5 452 4.5.3 250"
check "[penalty] verdict from a STARTTLS session: PENALIZE 127.0.0.21 600 reason=recipients" \
	wait_verdict '^PENALIZE 127\.0\.0\.21 600 reason=recipients$'
check "[penalty] verdict from a listen_tls session: PENALIZE 127.0.0.22 600 reason=recipients" \
	wait_verdict '^PENALIZE 127\.0\.0\.22 600 reason=recipients$'
check_eq "refused recipients never reached the backend" "$(grep -c '^RCPT TO:<q2@' "$TMP/cap/commands")" 0

out=$(tpy "
c = TClient($C2, implicit=True, src='127.0.0.23')
c.cmd('EHLO x')
print('err', c.cmd('RCPT TO:<a@example.test>')[:3], c.cmd('DATA')[:3], c.cmd('DATA')[:9])
print('closed', c.closed())
c = TClient($C1, src='127.0.0.24')
c.cmd('EHLO x'); c.starttls(); c.cmd('EHLO x')
print('unrec', c.cmd('FOO')[:3], c.cmd('BAR')[:3], c.cmd('BAZ'))
print('closed', c.closed())
")
sed 's/^/# /' <<<"$out"
check_eq "[errors] max = 2 inside listen_tls: 503 503 421 4.7.0" "$(grep '^err' <<<"$out")" "err 503 503 421 4.7.0"
check "[unrecognized_commands] max = 2 inside STARTTLS: 502 502 421 4.7.0 ... too many unrecognized commands" \
	grep -qE '^unrec 502 502 421 4\.7\.0 .*too many unrecognized commands' <<<"$out"
check_eq "both sessions closed after the 421" "$(grep -c '^closed True' <<<"$out")" 2
check "verdict: PENALIZE 127.0.0.23 3600 limit=1 reason=errors" \
	wait_verdict '^PENALIZE 127\.0\.0\.23 3600 limit=1 reason=errors$'
check "verdict: BLOCK 127.0.0.24 3600 reason=unrecognized_commands" \
	wait_verdict '^BLOCK 127\.0\.0\.24 3600 reason=unrecognized_commands$'

out=$(tpy "
c = TClient($C2, implicit=True, src='127.0.0.25')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<rl@rate.test>')
a = [c.cmd('RCPT TO:<rl%d@example.test>' % i)[:9] for i in range(2)]
c.cmd('QUIT')
c = TClient($C1, src='127.0.0.26')
c.cmd('EHLO x'); c.starttls(); c.cmd('EHLO x'); c.cmd('MAIL FROM:<rl@rate.test>')
print('rate', ' '.join(a), c.cmd('RCPT TO:<rl9@example.test>')[:9])
c.cmd('QUIT')
")
check_eq "[rate_rcpt_sender] 2/1m inside TLS (two sessions): 250 250 then 450 4.7.1" \
	"$(grep '^rate' <<<"$out")" "rate 250 2.1.5 250 2.1.5 450 4.7.1"

# pipelined RCPTs inside TLS (one TLS record): the limit holds
out=$(tpy "
c = TClient($C2, implicit=True, src='127.0.0.27')
c.cmd('EHLO x')
c.send('MAIL FROM:<pl@sender.test>\\r\\n' + ''.join('RCPT TO:<pl%d@example.test>\\r\\n' % i for i in range(4)) + 'NOOP\\r\\n')
print(' '.join(c.reply()[:9] for _ in range(6)))
c.cmd('QUIT')
")
check_eq "pipelined MAIL + 4 RCPT + NOOP in one TLS write: 250 250 250 452 452 250" "$out" \
	"250 2.1.0 250 2.1.5 250 2.1.5 452 4.5.3 452 4.5.3 250 2.0.0"
# a TLS client that vanishes in the middle of DATA: no half message
out=$(tpy "
c = TClient($C2, implicit=True, src='127.0.0.28')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<half@sender.test>'); c.cmd('RCPT TO:<half@example.test>')
print(c.cmd('DATA')[:3])
c.send(b'Subject: half-message-marker\\r\\n\\r\\npart')
time.sleep(0.3)
c.s.close()
time.sleep(1)
")
check_eq "DATA inside TLS: 354" "$out" 354
check "a TLS client closing mid-DATA: the backend stored no message" \
	bash -c "! grep -lqF 'half-message-marker' '$TMP'/cap/msg.* 2>/dev/null"

# --- 4. SNI and key types ---------------------------------------------------
# subj ARGS...: the subject of the certificate s_client gets
subj() {
	echo | timeout 15 openssl s_client -connect "127.0.0.1:$C2" "$@" 2>/dev/null |
		openssl x509 -noout -subject -nameopt compat 2>/dev/null
}
check "SNI mx.example.test + -sigalgs ECDSA+SHA256: the ECDSA certificate" \
	grep -q 'O=MXECDSA' <<<"$(subj -servername mx.example.test -sigalgs ECDSA+SHA256)"
check "SNI mx.example.test + -sigalgs RSA-PSS+SHA256:RSA+SHA256: the RSA certificate" \
	grep -q 'O=MXRSA' <<<"$(subj -servername mx.example.test -sigalgs RSA-PSS+SHA256:RSA+SHA256)"
check "TLSv1.2 + ECDSA sigalgs: ECDSA cert; + RSA sigalgs: RSA cert" \
	bash -c "grep -q O=MXECDSA <<<'$(subj -tls1_2 -servername mx.example.test -sigalgs ECDSA+SHA256)' &&
		grep -q O=MXRSA <<<'$(subj -tls1_2 -servername mx.example.test -sigalgs RSA+SHA256)'"
check "SNI smtp.other.test: the other certificate" grep -q 'O=OTHER' <<<"$(subj -servername smtp.other.test)"
check "SNI in another case (SMTP.Other.Test): the other certificate" grep -q 'O=OTHER' <<<"$(subj -servername SMTP.Other.Test)"
check "unknown SNI: the default (mx.example.test) group" grep -q 'CN=mx.example.test' <<<"$(subj -servername unknown.invalid)"
check "no SNI: the default group" grep -q 'CN=mx.example.test' <<<"$(subj -noservername)"
check "SNI smtp.other.test over STARTTLS: the other certificate" grep -q 'O=OTHER' <<<"$(
	echo | timeout 15 openssl s_client -starttls smtp -connect "127.0.0.1:$C1" -servername smtp.other.test 2>/dev/null |
		openssl x509 -noout -subject -nameopt compat 2>/dev/null)"

# --- 6. AUTH, BDAT, 300 kB DATA inside TLS ---------------------------------
python3 -c '
import sys
lines = [b"Subject: big tls message", b"X-Big: 300k", b""]
i = 0
while sum(len(l) + 2 for l in lines) < 300000:
    lines.append(b"..stuffed line %06d" % i if i % 97 == 0 else b"line %06d " % i + bytes(range(33, 127)))
    i += 1
sys.stdout.buffer.write(b"\r\n".join(lines) + b"\r\n")' >"$TMP/big.eml"
out=$(tpy "
c = TClient($C2, implicit=True, src='127.0.0.31')
c.cmd('EHLO x')
print('auth', c.cmd('AUTH LOGIN')[:3], c.cmd('dGxzdXNlckBleGFtcGxlLnRlc3Q=')[:3], c.cmd('c2VjcmV0LXBhc3N3b3JkLTQy'))
c.cmd('MAIL FROM:<big@sender.test>'); c.cmd('RCPT TO:<big@example.test>')
print('data', c.cmd('DATA')[:3])
c.send(open('$TMP/big.eml', 'rb').read() + b'.\r\n')
print('dot', c.reply())
c.cmd('MAIL FROM:<bdat@sender.test>'); c.cmd('RCPT TO:<bdat@example.test>')
ch1, ch2 = b'X-Chunk: one\r\n\r\nab', b'cdefgh\r\n.\r\n'
c.send(b'BDAT %d\r\n' % len(ch1) + ch1)
print('bdat1', c.reply())
c.send(b'BDAT %d LAST\r\n' % len(ch2) + ch2)
print('bdat2', c.reply())
print('quit', c.cmd('QUIT')[:3])
")
sed 's/^/# /' <<<"$out"
check_eq "AUTH LOGIN inside TLS passes to the backend: 334 334 235" "$(grep '^auth' <<<"$out")" \
	"auth 334 334 235 2.7.0 Authentication successful"
check "... the backend got the credentials" grep -q 'auth-response c2VjcmV0LXBhc3N3b3JkLTQy' "$TMP/cap/commands"
check "... the proxy's -v log does not contain them" \
	bash -c "! grep -qE 'dGxzdXNlckBleGFtcGxlLnRlc3Q=|c2VjcmV0LXBhc3N3b3JkLTQy' '$CLOG'"
check_eq "300 kB DATA inside TLS: 354 then 250" "$(grep -E '^(data|dot)' <<<"$out" | tr '\n' ' ')" "data 354 dot 250 2.0.0 Ok: queued "
big=$(grep -lF 'X-Big: 300k' "$TMP"/cap/msg.* 2>/dev/null | head -1)
check "... arrives byte-identical at the backend" cmp -s "${big:-/nonexistent}" "$TMP/big.eml"
check_eq "BDAT/CHUNKING inside TLS: 250, 250" "$(grep -E '^bdat' <<<"$out" | cut -c1-9 | tr '\n' ' ')" "bdat1 250 bdat2 250 "
bd=$(grep -lF 'X-Chunk: one' "$TMP"/cap/msg.* 2>/dev/null | head -1)
check_eq "... the chunks arrive byte-exact" "$(cat "${bd:-/dev/null}" | od -An -c | tr -s ' \n' ' ')" \
	"$(printf 'X-Chunk: one\r\n\r\nabcdefgh\r\n.\r\n' | od -An -c | tr -s ' \n' ' ')"
check_eq "the backend never received STARTTLS" "$(grep -c '^STARTTLS' "$TMP/cap/commands")" 0

# --- 6. 1000 half-open handshakes do not stall a TLS session --------------
out=$(timeout 100 python3 -c "
import socket, subprocess, time
socks = []
hello = bytes.fromhex('160301020001') + bytes.fromhex('0001fc0303') + bytes(20)
for i in range(1000):
    s = socket.create_connection(('127.0.0.1', $C2), timeout=10)
    if i % 2:
        s.send(hello)
    socks.append(s)
time.sleep(0.5)
t = time.monotonic()
r = subprocess.run(['swaks', '--server', '127.0.0.1:$C2', '--tlsc', '--timeout', '20', '--from', 'h@sender.test',
                    '--to', 'half@example.test'], capture_output=True, timeout=40)
el = time.monotonic() - t
print('swaks', r.returncode, int(el < 5), round(el, 2))
open('$TMP/half.swaks', 'wb').write(r.stdout + r.stderr)
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        alive += s.recv(1) == b''
    except BlockingIOError:
        pass
print('closed', alive)
" 2>&1)
sed 's/^/# /' <<<"$out"
check "1000 half-open TLS handshakes: a swaks --tlsc session made meanwhile completes in < 5 s" \
	grep -qE '^swaks 0 1 ' <<<"$out"
check "... the half-open connections were not closed early (default 30 s timeout)" grep -qx 'closed 0' <<<"$out"
check "the proxy is still up" kill -0 "$CPID"

# --- tls_required, tls_protocols = TLSv1.3, handshake timeout, garbage ----
R1=$(free_port) R2=$(free_port)
cat >"$TMP/r.ini" <<EOF
[proxy]
listen = 127.0.0.1:$R1
listen_tls = 127.0.0.1:$R2
backend = 127.0.0.1:$CAP
verdict_socket = $VSOCK
$CERTS
tls_required = yes
tls_protocols = TLSv1.3
tls_handshake_timeout = 2s
[errors]
enabled = true
max = 2
[penalty]
errors = penalize 1h
EOF
start_proxy "$TMP/r.ini" || fail "proxy (tls_required) starts"
RLOG=$PROXY_LOG
RPID=$PROXY_PID
out=$(tpy "
c = TClient($R1, src='127.0.0.41')
print('ehlo', c.cmd('EHLO x'))
print('req', c.cmd('MAIL FROM:<a@sender.test>'), '|', c.cmd('MAIL FROM:<a@sender.test>')[:3], c.cmd('MAIL FROM:<a@sender.test>')[:9])
print('closed', c.closed())
c = TClient($R1, src='127.0.0.42')
c.cmd('EHLO x'); print('tls', c.starttls()[:3], c.tls_version()); c.cmd('EHLO x')
print('after', c.cmd('MAIL FROM:<a@sender.test>')[:3], c.cmd('RCPT TO:<a@example.test>')[:3])
c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
check "tls_required: STARTTLS offered" grep -q '^ehlo .*250-STARTTLS' <<<"$out"
check_eq "tls_required: MAIL before TLS 530 5.7.0, counted under [errors] (max 2): 530 530 421" \
	"$(grep '^req' <<<"$out")" "req 530 5.7.0 Must issue a STARTTLS command first | 530 421 4.7.0"
check "... closed, verdict PENALIZE 127.0.0.41 reason=errors" \
	bash -c "grep -q '^closed True' <<<'$out' && for i in \$(seq 50); do grep -q '^PENALIZE 127.0.0.41 3600 reason=errors' '$VLOG' && exit 0; sleep 0.1; done; exit 1"
check_eq "tls_required: after STARTTLS (TLSv1.3) MAIL and RCPT pass" \
	"$(grep -E '^(tls|after)' <<<"$out" | tr '\n' ' ')" "tls 220 TLSv1.3 after 250 250 "
o12=$(echo | timeout 15 openssl s_client -connect "127.0.0.1:$R2" -tls1_2 2>&1)
check "tls_protocols = TLSv1.3 refuses an openssl -tls1_2 client" \
	has "$o12" '^New, \(NONE\), Cipher is \(NONE\)'
check "... with a protocol_version alert" has "$o12" 'alert protocol version'

o13=$(echo | timeout 15 openssl s_client -connect "127.0.0.1:$R2" -tls1_3 2>&1)
check "... and accepts -tls1_3" grep -q '^New, TLSv1.3' <<<"$o13"
out=$(tpy "
s = socket.create_connection(('127.0.0.1', $R2), timeout=10)
t = time.monotonic()
d = s.recv(100)
print('idle', repr(d), round(time.monotonic() - t, 1))
s = socket.create_connection(('127.0.0.1', $R2), timeout=10)
s.send(b'GARBAGE NOT A CLIENTHELLO\r\n' * 4)
try:
    d = b''
    while True:
        x = s.recv(100)
        if not x: break
        d += x
    print('garbage closed')
except ConnectionResetError:
    print('garbage closed')
except socket.timeout:
    print('garbage open')
s = socket.create_connection(('127.0.0.1', $R1), timeout=10)
s.recv(100); s.send(b'EHLO x\r\nSTARTTLS\r\n'); time.sleep(0.3); s.recv(1000)
t = time.monotonic()
d = s.recv(100)
print('stls-idle', repr(d), round(time.monotonic() - t, 1))
c = TClient($R2, implicit=True)
print('next', c.greeting[:3], c.cmd('EHLO x')[:3])
c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
t_idle=$(awk '/^idle/ {print $3}' <<<"$out")
check "listen_tls: a client sending nothing gets no reply" has "$out" "^idle b'' "
check "... and is closed after tls_handshake_timeout = 2s (got ${t_idle:-?} s)" between "$t_idle" 1.5 4
t_idle=$(awk '/^stls-idle/ {print $3}' <<<"$out")
check "STARTTLS then no ClientHello: no reply" has "$out" "^stls-idle b'' "
check "... closed after tls_handshake_timeout = 2s (got ${t_idle:-?} s)" between "$t_idle" 1.5 4
check "garbage instead of a ClientHello: that session is closed" grep -q '^garbage closed' <<<"$out"
check_eq "... another TLS session works" "$(grep '^next' <<<"$out")" "next 220 250"
check "the proxy is still up" kill -0 "$RPID"

# backend_xclient against a backend without XCLIENT (the capture backend)
XC=$(free_port)
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\nbackend_xclient = yes\nhostname = px.example.test\nverdict_socket = none\n%s\n' \
	"$XC" "$CAP" "$CERTS" >"$TMP/xc.ini"
start_proxy "$TMP/xc.ini" || fail "proxy (backend_xclient to capture) starts"
XCLOG=$PROXY_LOG
out=$(tpy "
c = TClient($XC, src='127.0.0.29')
print(c.greeting)
")
check "backend_xclient, backend offers no XCLIENT: 421 4.3.0 ... backend hand-off failed" \
	has "$out" '^421 4\.3\.0 .*backend hand-off failed'
check "... the proxy sent EHLO px.example.test and no XCLIENT" \
	bash -c "grep -qx 'EHLO px.example.test' '$TMP/cap/commands' && ! grep -q '^XCLIENT' '$TMP/cap/commands'"
check "... a warning names smtpd_authorized_xclient_hosts" grep -q smtpd_authorized_xclient_hosts "$XCLOG"

# backend_xclient: the hand-off, byte-checked at a backend that offers XCLIENT
XB=$(free_port) XBP=$(free_port)
bg xbackend python3 "$PXDIR/tls_xclient_backend.py" "$XB" "$TMP/xb.log"
wait_port "$XB"
printf '[proxy]\nlisten = 127.0.0.1:%s, [::1]:%s\nbackend = 127.0.0.1:%s\nbackend_xclient = yes\nhostname = px.example.test\nverdict_socket = none\n%s\n' \
	"$XBP" "$XBP" "$XB" "$CERTS" >"$TMP/xb.ini"
start_proxy "$TMP/xb.ini" || fail "proxy (backend_xclient to an XCLIENT backend) starts"
out=$(tpy "
for h, src in (('127.0.0.1', '127.0.0.9'), ('::1', None)):
    c = TClient($XBP, host=h, src=src)
    print('greet', c.greeting, c.s.getsockname()[1])
    c.cmd('EHLO x'); c.starttls(); c.cmd('EHLO y'); c.cmd('QUIT')
")
sed 's/^/# /' <<<"$out"
p4=$(awk '/^greet/ {print $NF; exit}' <<<"$out") p6=$(awk '/^greet/ {p = $NF} END {print p}' <<<"$out")
check_eq "backend_xclient: the client's greeting is the backend's 220 to XCLIENT" \
	"$(grep -c '^greet 220 xb after-xclient ' <<<"$out")" 2
check_eq "backend_xclient: EHLO hostname, XCLIENT ADDR PORT NAME (v4, IPV6:), no STARTTLS to the backend" \
	"$(tr -d '\r' <"$TMP/xb.log" | tr '\n' '|')" \
	"EHLO px.example.test|XCLIENT ADDR=127.0.0.9 PORT=$p4 NAME=[UNAVAILABLE]|EHLO x|EHLO y|QUIT|EHLO px.example.test|XCLIENT ADDR=IPV6:::1 PORT=$p6 NAME=[UNAVAILABLE]|EHLO x|EHLO y|QUIT|"

# --- PROXY v2 to the backend: the SSL TLV on listen_tls only ---------------
P1=$(free_port) P2=$(free_port)
cat >"$TMP/p.ini" <<EOF
[proxy]
listen = 127.0.0.1:$P1
listen_tls = 127.0.0.1:$P2
backend = 127.0.0.1:$CAPV2
proxy_protocol = v2
verdict_socket = none
$CERTS
EOF
start_proxy "$TMP/p.ini" || fail "proxy (PROXY v2) starts"
cat >"$TMP/tls_pp2.py" <<'EOF'
import glob, sys
def tlvs(b):
    out = []
    while len(b) >= 3:
        t, n = b[0], b[1] << 8 | b[2]
        out.append((t, b[3:3 + n])); b = b[3 + n:]
    return out
for f in sorted(glob.glob(sys.argv[1] + "/header.*")):
    h = open(f, "rb").read()
    fam, ln = h[13], h[14] << 8 | h[15]
    body = h[16:16 + ln]
    body = body[12:] if fam == 0x11 else body[36:] if fam == 0x21 else body
    parts = []
    for t, v in tlvs(body):
        if t == 0x20:
            subs = {st: sv for st, sv in tlvs(v[5:])}
            parts.append("ssl client=%d verify=%d version=%s cipher=%s" % (
                v[0], int.from_bytes(v[1:5], "big"), subs.get(0x21, b"-").decode(),
                subs.get(0x23, b"-").decode()))
        else:
            parts.append("tlv%02x" % t)
    print(" ".join(parts) or "none")
EOF
out=$(tpy "
c = TClient($P2, implicit=True, src='127.0.0.51')
print('impl', c.s.version(), c.s.cipher()[0], c.cmd('EHLO x')[:3]); c.cmd('QUIT')
")
sleep 0.3
hd=$(python3 "$TMP/tls_pp2.py" "$TMP/capv2" | tail -1)
ver=$(awk '/^impl/ {print $2}' <<<"$out") ciph=$(awk '/^impl/ {print $3}' <<<"$out")
check_eq "PROXY v2 from a listen_tls session: PP2_TYPE_SSL with client=1 verify=0, version, cipher" \
	"$hd" "ssl client=1 verify=0 version=$ver cipher=$ciph"
rm -f "$TMP"/capv2/header.*
out=$(tpy "
c = TClient($P1, src='127.0.0.52')
c.cmd('EHLO x'); print('stls', c.starttls()[:3]); c.cmd('EHLO x'); c.cmd('QUIT')
")
sleep 0.3
check_eq "PROXY v2 from a STARTTLS session: no SSL TLV" "$(python3 "$TMP/tls_pp2.py" "$TMP/capv2" | tail -1)" "none"

# --- 6. SIGHUP reloads certificates and policy -----------------------------
cp "$TMP/h1.pem" "$TMP/hup.pem"; cp "$TMP/h1.key" "$TMP/hup.key"
H1=$(free_port) H2=$(free_port)
cat >"$TMP/h.ini" <<EOF
[proxy]
listen = 127.0.0.1:$H1
listen_tls = 127.0.0.1:$H2
backend = 127.0.0.1:$CAP
verdict_socket = none
tls_cert = $TMP/hup.pem
tls_key = $TMP/hup.key
[recipients]
enabled = true
max = 3
EOF
start_proxy "$TMP/h.ini" || fail "proxy (SIGHUP) starts"
HLOG=$PROXY_LOG
HPID=$PROXY_PID
hsubj() { echo | timeout 15 openssl s_client -connect "127.0.0.1:$H2" 2>/dev/null | openssl x509 -noout -subject -nameopt compat 2>/dev/null; }
check "before SIGHUP: the first certificate" grep -q 'O=HUPFIRST' <<<"$(hsubj)"
# Two handshakes begun before the SIGHUP whose ClientHello (with SNI) comes
# after it: one on listen_tls (connected, nothing sent), one after the 220
# to STARTTLS.  The proxy made their SSL objects on the certificate set the
# reload replaces; its SNI callback once read that set after it was freed
# (SIGSEGV; ASan: heap-use-after-free in sni_cb).
coproc HUPC { timeout 60 python3 -u -c "
from tls_client import *
import sys
c = TClient($H2, implicit=True, src='127.0.0.61')
c.cmd('EHLO x')
imp = TClient($H2, greet=False, sni='mx.example.test', src='127.0.0.63')
stl = TClient($H1, sni='mx.example.test', src='127.0.0.64')
stl.cmd('EHLO x')
stls = stl.cmd('STARTTLS')[:3]
print('before', c.cmd('MAIL FROM:<h@sender.test>')[:3], subject_of(c.cert_der()), flush=True)
sys.stdin.readline()
try:
    print('after', ' '.join(c.cmd('RCPT TO:<h%d@example.test>' % i)[:3] for i in range(3)), c.cmd('NOOP')[:3], flush=True)
except Exception as e:
    print('after error', repr(e), flush=True)
try:
    imp.handshake()
    print('held-tls', imp.reply()[:3], imp.cmd('EHLO x')[:3], subject_of(imp.cert_der()), flush=True)
except Exception as e:
    print('held-tls error', repr(e), flush=True)
try:
    stl.handshake()
    print('held-starttls', stls, stl.cmd('EHLO x')[:3], subject_of(stl.cert_der()), flush=True)
except Exception as e:
    print('held-starttls error', repr(e), flush=True)
" 2>&1; }
read -r -t 20 line <&"${HUPC[0]}"
check "an open TLS session before SIGHUP (first certificate)" grep -q '^before 250 .*O=HUPFIRST' <<<"$line"
cp "$TMP/h2.key" "$TMP/hup.key.new"; cp "$TMP/h2.pem" "$TMP/hup.pem.new"
mv "$TMP/hup.key.new" "$TMP/hup.key"; mv "$TMP/hup.pem.new" "$TMP/hup.pem"
sed -i 's/^max = 3$/max = 1/' "$TMP/h.ini"
kill -HUP "$HPID"
sleep 1
echo go >&"${HUPC[1]}"
read -r -t 20 line <&"${HUPC[0]}"
check "the TLS session open across SIGHUP goes on (RCPT 250 ..., NOOP 250)" has "$line" '^after 250 .* 250$'
# (observed: the new policy, max 1, also applies to the open session: like policyd)
check_eq "... and the reloaded policy applies to it (max 3 -> 1: 250 452 452)" "$line" "after 250 452 452 250"
read -r -t 20 line <&"${HUPC[0]}"
check "a listen_tls handshake begun before SIGHUP, SNI after it: done with the first certificate" \
	grep -q '^held-tls 220 250 .*O=HUPFIRST' <<<"$line"
read -r -t 20 line <&"${HUPC[0]}"
check "... and one after STARTTLS's 220 (EHLO 250 inside TLS)" \
	grep -q '^held-starttls 220 250 .*O=HUPFIRST' <<<"$line"
check "after SIGHUP: new connections get the new certificate" grep -q 'O=HUPSECOND' <<<"$(hsubj)"
out=$(tpy "
c = TClient($H2, implicit=True, src='127.0.0.62')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<h@sender.test>')
print(c.cmd('RCPT TO:<x1@example.test>')[:3], c.cmd('RCPT TO:<x2@example.test>')[:3]); c.cmd('QUIT')
")
check_eq "after SIGHUP: the new policy (max 3 -> 1) for new TLS sessions" "$out" "250 452"
nlog=$(wc -l <"$HLOG")
echo "not a certificate" >"$TMP/hup.pem"
kill -HUP "$HPID"
sleep 1
check "SIGHUP with a broken cert file: an error naming it is logged" \
	bash -c "tail -n +$((nlog + 1)) '$HLOG' | grep -qF '$TMP/hup.pem'"
check "... the proxy keeps running" kill -0 "$HPID"
check "... with the old (second) certificate" grep -q 'O=HUPSECOND' <<<"$(hsubj)"

# --- 5. a real Postfix behind the proxy -------------------------------------
. "$PXDIR/postfix.sh"
if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/postfix ]; then
	skip "Postfix backend tests" "needs root and postfix"
	finish
fi
if ! start_postfix smtpd_authorized_xclient_hosts=127.0.0.0/8 inet_protocols=all; then
	fail "private Postfix starts"
	finish
fi
X1=$(free_port) X2=$(free_port) X16=$(free_port)
cat >"$TMP/x.ini" <<EOF
[proxy]
listen = 127.0.0.1:$X1, [::1]:$X16
listen_tls = 127.0.0.1:$X2
backend = 127.0.0.1:$PFX_PORT
backend_xclient = yes
hostname = proxy.example.test
verdict_socket = none
$CERTS
EOF
start_proxy "$TMP/x.ini" || fail "proxy (backend_xclient) starts"
XLOG=$PROXY_LOG
# pfx_client ADDR: Postfix logged a queued message from that client
pfx_client() { grep -qE "client=unknown\[$1\]" "$PFX_LOG"; }
out=$(sw --server "127.0.0.1:$X1" --local-interface 127.0.0.2 --tls --to x1@example.test)
check "XCLIENT, STARTTLS from 127.0.0.2: accepted by Postfix"  tls_250 "$out"
check "... Postfix's greeting reaches the client" grep -q '^<-  220 backend.example.test ESMTP' <<<"$out"
check "... Postfix logged client=unknown[127.0.0.2]" wait_for 50 pfx_client '127\.0\.0\.2'
out=$(sw --server "127.0.0.1:$X2" --local-interface 127.0.0.3 --tlsc --to x2@example.test)
check "XCLIENT, listen_tls from 127.0.0.3: accepted" is_250 "$out"
check "... Postfix logged client=unknown[127.0.0.3]" wait_for 50 pfx_client '127\.0\.0\.3'
out=$(sw -6 --server ::1 --port "$X16" --tls --to x3@example.test)
check "XCLIENT, IPv6 ::1 via STARTTLS: accepted" is_250 "$out"
check "... Postfix logged client=unknown[::1]" wait_for 50 pfx_client '::1'
check_eq "three messages held by Postfix" "$(pfx_held_count)" 3
check "Postfix logged no XCLIENT/TLS warning" bash -c "! grep -qiE 'warning: .*(xclient|tls)' '$PFX_LOG'"

# not authorized: 421 4.3.0 to the client, a warning naming the setting
_pfx_conf -e smtpd_authorized_xclient_hosts= >/dev/null
/usr/sbin/postfix -c "$PFX_DIR" reload >/dev/null 2>&1
sleep 1.5
out=$(tpy "
c = TClient($X1, src='127.0.0.7')
print('greet', c.greeting)
print('closed', c.closed())
")
sed 's/^/# /' <<<"$out"
check "XCLIENT refused by Postfix: the client gets 421 4.3.0 ... backend hand-off failed" \
	grep -qE '^greet 421 4\.3\.0 .*backend hand-off failed' <<<"$out"
check "... and the connection is closed" grep -q '^closed True' <<<"$out"
check "... the warning names smtpd_authorized_xclient_hosts" grep -q 'smtpd_authorized_xclient_hosts' "$XLOG"
out=$(tpy "
c = TClient($X2, implicit=True, src='127.0.0.8')
print('greet', c.greeting)
")
check "... also on listen_tls (after the handshake)" grep -qE '^greet 421 4\.3\.0 ' <<<"$out"

# PROXY v2 to Postfix (smtpd_upstream_proxy_protocol = haproxy)
_pfx_conf -e smtpd_upstream_proxy_protocol=haproxy >/dev/null
/usr/sbin/postfix -c "$PFX_DIR" reload >/dev/null 2>&1
sleep 1.5
Y1=$(free_port) Y2=$(free_port)
cat >"$TMP/y.ini" <<EOF
[proxy]
listen = 127.0.0.1:$Y1
listen_tls = 127.0.0.1:$Y2
backend = 127.0.0.1:$PFX_PORT
proxy_protocol = v2
verdict_socket = none
$CERTS
EOF
start_proxy "$TMP/y.ini" || fail "proxy (PROXY v2 to Postfix) starts"
out=$(sw --server "127.0.0.1:$Y1" --local-interface 127.0.0.4 --tls --to y1@example.test)
check "PROXY v2 + STARTTLS from 127.0.0.4: accepted by Postfix"  tls_250 "$out"
check "... Postfix logged client=unknown[127.0.0.4]" wait_for 50 pfx_client '127\.0\.0\.4'
out=$(sw --server "127.0.0.1:$Y2" --local-interface 127.0.0.5 --tlsc --to y2@example.test)
check "PROXY v2 (with the SSL TLV) + listen_tls from 127.0.0.5: accepted by Postfix" \
	is_250 "$out"
check "... Postfix logged client=unknown[127.0.0.5]" wait_for 50 pfx_client '127\.0\.0\.5'

echo "# run time: $(($(date +%s) - T0)) s"
finish
