#!/bin/bash
# backend_tls in mxlimit-proxy: TLS from the proxy to the backend (SMTPS,
# TLS from the first byte), with the backend's certificate verified against
# backend_tls_ca and its name against backend_tls_name (also sent as SNI).
# `-t` rules; a private Postfix (postfix.sh) in smtpd_tls_wrappermode with a
# certificate from a test CA made at run time: mail through the proxy, limits,
# a 300 kB message byte-identical, BDAT, backend_xclient inside the backend
# TLS, both TLS legs at once (STARTTLS and listen_tls on the client side);
# failures (wrong name, wrong CA, self-signed, system trust store, a
# plaintext backend, a backend silent before the handshake) give the client
# 421 4.4.1 and a "backend TLS" log line, and the proxy serves on.
. "$(dirname "$0")/pxlib.sh"
command -v swaks >/dev/null || { echo "1..0 # SKIP swaks not installed"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl not installed"; exit 0; }
command -v smtp-sink >/dev/null || { echo "1..0 # SKIP smtp-sink not installed"; exit 0; }
T0=$(date +%s)

has() { grep -qE -- "$2" <<<"$1"; }
between() { awk -v x="${1:-x}" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x ~ /^[0-9.]+$/ && x + 0 >= lo && x + 0 <= hi) }'; }
# wait_for N CMD...: up to N tenths of a second for CMD to succeed.
wait_for() {
	local n=$1 i; shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
	"$@"
}
tool() { timeout 60 python3 "$PXDIR/btls_tool.py" "$@" 2>&1; }

# --- certificates ---------------------------------------------------------
# A test CA, a server certificate for mx.backend.test signed by it; a second
# CA that signed nothing the backend shows; a self-signed mx.backend.test;
# the client-side certificate of the proxy (as in test_tls.sh).
mkca() { # NAME CN
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$TMP/$1.key" -out "$TMP/$1.pem" \
		-subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
}
mkleaf() { # NAME CN CA
	openssl req -newkey rsa:2048 -nodes -keyout "$TMP/$1.key" -out "$TMP/$1.csr" \
		-subj "/CN=$2" >/dev/null 2>&1 &&
	printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$TMP/$1.ext" &&
	openssl x509 -req -in "$TMP/$1.csr" -CA "$TMP/$3.pem" -CAkey "$TMP/$3.key" -CAcreateserial \
		-days 2 -out "$TMP/$1.pem" -extfile "$TMP/$1.ext" >/dev/null 2>&1
}
mkself() { # NAME CN
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$TMP/$1.key" -out "$TMP/$1.pem" \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2" >/dev/null 2>&1
}
{ mkca ca "mxlimit test CA" && mkleaf srv mx.backend.test ca; } &
mkca ca2 "another test CA" &
mkself self mx.backend.test &
mkself front mx.example.test &
wait
chmod 644 "$TMP"/*.pem "$TMP"/*.key
if ! openssl verify -CAfile "$TMP/ca.pem" -verify_hostname mx.backend.test "$TMP/srv.pem" >/dev/null 2>&1; then
	fail "test certificates made (openssl verify of srv.pem against ca.pem)"
	exit 1
fi
FRONT="tls_cert = $TMP/front.pem
tls_key = $TMP/front.key"
BTLS="backend_tls = yes
backend_tls_ca = $TMP/ca.pem
backend_tls_name = mx.backend.test"

# --- 1. -t -------------------------------------------------------------------
# tcheck NAME WANT_RC FIXED <<EOF ini EOF: -t exits WANT_RC, output has FIXED
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
tcheck "backend_tls with CA and name: ok" 0 "configuration ok" <<EOF
$base
$BTLS
EOF
tcheck "backend_tls with name, no CA (system trust store): ok" 0 "configuration ok" <<EOF
$base
backend_tls = yes
backend_tls_name = mx.backend.test
EOF
tcheck "backend_tls + backend_xclient + client-side certificates: ok" 0 "configuration ok" <<EOF
$base
$BTLS
backend_xclient = yes
listen_tls = 127.0.0.1:2465
$FRONT
EOF
tcheck "backend_tls = no (explicit): ok" 0 "configuration ok" <<EOF
$base
backend_tls = no
EOF
tcheck "backend_tls without backend_tls_name: exit 2, names the key" 2 "backend_tls_name" <<EOF
$base
backend_tls = yes
backend_tls_ca = $TMP/ca.pem
EOF
tcheck "backend_tls + proxy_protocol = v2: exit 2" 2 "backend_tls" <<EOF
$base
$BTLS
proxy_protocol = v2
EOF
tcheck "backend_tls + proxy_protocol = v1: exit 2" 2 "backend_tls" <<EOF
$base
$BTLS
proxy_protocol = v1
EOF
tcheck "missing backend_tls_ca file: exit 2, names the file" 2 "$TMP/nope-ca.pem" <<EOF
$base
backend_tls = yes
backend_tls_ca = $TMP/nope-ca.pem
backend_tls_name = mx.backend.test
EOF
echo "not a certificate" >"$TMP/notpem.pem"
tcheck "backend_tls_ca not PEM: exit 2, names the file" 2 "$TMP/notpem.pem" <<EOF
$base
backend_tls = yes
backend_tls_ca = $TMP/notpem.pem
backend_tls_name = mx.backend.test
EOF
tcheck "backend_tls = maybe: exit 2, names the key" 2 "backend_tls" <<EOF
$base
backend_tls = maybe
backend_tls_name = mx.backend.test
EOF

# --- the private Postfix, SMTPS (wrapper mode) with the CA-signed cert -------
. "$PXDIR/postfix.sh"
if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/postfix ]; then
	skip "Postfix backend tests" "needs root and postfix"
	finish
fi
# smtpd_tls_loglevel=1: "Anonymous TLS connection established from ...";
# XCLIENT is allowed from loopback (used only when the proxy sends it).
if ! start_postfix smtpd_tls_wrappermode=yes "smtpd_tls_cert_file=$TMP/srv.pem" \
	"smtpd_tls_key_file=$TMP/srv.key" smtpd_tls_security_level=may smtpd_tls_loglevel=1 \
	smtpd_authorized_xclient_hosts=127.0.0.0/8; then
	fail "private Postfix (wrapper mode) starts"
	finish
fi
# The set-up itself, checked by openssl: Postfix speaks TLS first, its
# certificate verifies against ca.pem for mx.backend.test and not for other
# names or against ca2.pem (so the proxy's failures below are the proxy's).
sclient() { # CAFILE NAME
	(sleep 1; printf 'QUIT\r\n'; sleep 0.3) | timeout 15 openssl s_client -connect "127.0.0.1:$PFX_PORT" \
		-servername mx.backend.test -CAfile "$1" -verify_hostname "$2" 2>&1
}
out=$(sclient "$TMP/ca.pem" mx.backend.test)
check "set-up: Postfix greets inside TLS from the first byte" has "$out" '^220 backend\.example\.test ESMTP'
check "set-up: openssl verifies its certificate (ca.pem, mx.backend.test)" has "$out" 'Verify return code: 0 \(ok\)'
check "set-up: ... but not for wrong.test" has "$(sclient "$TMP/ca.pem" wrong.test)" 'Verify return code: 62 '
check "set-up: ... nor against ca2.pem" has "$(sclient "$TMP/ca2.pem" mx.backend.test)" 'Verify return code: (20|21) '
tlslines() { grep -c 'TLS connection established from' "$PFX_LOG"; }

# --- 2. mail through the proxy, TLS to Postfix --------------------------------
SINK=$(free_port)
start_sink "$SINK"
A1=$(free_port) A2=$(free_port)
cat >"$TMP/a.ini" <<EOF
[proxy]
listen = 127.0.0.1:$A1
listen_tls = 127.0.0.1:$A2
backend = 127.0.0.1:$PFX_PORT
$BTLS
verdict_socket = none
$FRONT
[recipients]
enabled = true
max = 2
EOF
start_proxy "$TMP/a.ini" || fail "proxy (backend_tls to Postfix) starts"
ALOG=$PROXY_LOG
APID=$PROXY_PID
sw() { timeout 40 swaks --timeout 20 --helo client.test --from s@sender.test "$@" 2>&1; }
# rcpt_codes TRANSCRIPT: the reply codes to RCPT, in order (plain or TLS)
rcpt_codes() {
	awk '/^ [-~]> RCPT TO/ { want = 1; next } want && /^<[-~*][-~*]? / { print $2; want = 0 }' <<<"$1" |
		tr '\n' ' ' | sed 's/ $//'
}
# final_code TRANSCRIPT: the reply to the message's final dot
final_code() { awk '/^ [-~]> \.$/ { want = 1; next } want && /^<[-~*][-~*]? / { print $2; want = 0 }' <<<"$1"; }
is_250() { [ "$(final_code "$1")" = 250 ]; }
tls_250() { grep -q '^=== TLS started' <<<"$1" && [ "$(final_code "$1")" = 250 ]; }
held_has() { pfx_held_recipients | grep -qx "$1"; }

n0=$(tlslines)
out=$(sw --server "127.0.0.1:$A1" --to p1@example.test)
check_eq "swaks plain to the proxy, TLS to Postfix: message accepted (250)" "$(final_code "$out")" 250
check "... the client got Postfix's greeting" grep -q '^<-  220 backend.example.test ESMTP' <<<"$out"
check "... Postfix's 250 carries its queue id" grep -qE '^<-  250 2\.0\.0 Ok: queued as [0-9A-F]+' <<<"$out"
check "... held by Postfix (recipient p1@example.test)" wait_for 30 held_has p1@example.test
check "... Postfix logged a TLS connection from the proxy" \
	wait_for 30 bash -c "[ \$(grep -c 'TLS connection established from localhost\[127\.0\.0\.1\]' '$PFX_LOG') -gt $n0 ]"
check "... not a plaintext session: no SSL_accept error in Postfix's log" \
	bash -c "! grep -q 'SSL_accept error from localhost\[127\.0\.0\.1\]: [^l]' '$PFX_LOG'"
out=$(sw --server "127.0.0.1:$A1" --to m1@example.test,m2@example.test,m3@example.test)
check_eq "[recipients] max = 2 over backend TLS: 250 250 452" "$(rcpt_codes "$out")" "250 250 452"
check "... the 3rd is 452 4.5.3 Error: too many recipients" grep -q '^<\*\* 452 4.5.3 Error: too many recipients' <<<"$out"
check_eq "... the message is accepted for the first two" "$(final_code "$out")" 250
m12() { local r; r=$(pfx_held_recipients); grep -qx m2@example.test <<<"$r" && ! grep -qx m3@example.test <<<"$r"; }
check "... held with m1 and m2 only" wait_for 30 m12

# 300 kB, dot-stuffed lines included, byte-identical in Postfix's queue file
tool gen "$TMP/big.txt" 300000 >/dev/null
pfx_clear_held
out=$(tool send "$A1" "$TMP/big.txt")
check_eq "a 300 kB message through the proxy (backend TLS): 250" "$out" "sent 250"
wait_for 50 bash -c "[ \$(find '$TMP/pfx/spool/hold' -type f | wc -l) -ge 1 ]"
got=$(pfx_held_bodies | tool held)
want=$(tool sha "$TMP/big.txt")
check_eq "... held body byte-identical (sha256, $(wc -c <"$TMP/big.txt") bytes)" "$(awk '{print $2}' <<<"$got")" "$want"

# BDAT (CHUNKING) inside the backend TLS, two chunks
out=$(py "
c = Client($A1)
print('ehlo', 'CHUNKING' in c.cmd('EHLO client.test'))
print('mail', c.cmd('MAIL FROM:<bd@sender.test>')[:3], c.cmd('RCPT TO:<bdat@example.test>')[:3])
for last, chunk in (b'', b'Subject: bdat\r\n\r\nchunk1\r\n'), (b' LAST', b'chunk2\r\n'):
    c.send(b'BDAT %d%s\r\n' % (len(chunk), last) + chunk)
    print('bdat2' if last else 'bdat1', c.reply() if last else c.reply()[:3])
print('quit', c.cmd('QUIT'))
" 2>&1)
sed 's/^/# /' <<<"$out"
check "BDAT through the proxy (backend TLS): CHUNKING offered, 250 to both chunks" \
	bash -c "grep -qx 'ehlo True' <<<'$out' && grep -qx 'bdat1 250' <<<'$out' && grep -qE '^bdat2 250 2\.0\.0 Ok: [0-9]+ bytes queued as' <<<'$out'"
check_eq "... QUIT after BDAT LAST: 221" "$(grep '^quit' <<<"$out")" "quit 221 2.0.0 Bye"
check "... held by Postfix" wait_for 30 held_has bdat@example.test

# --- 4. both TLS legs: client TLS to the proxy, proxy TLS to Postfix ---------
out=$(sw --server "127.0.0.1:$A2" --tlsc --to both1@example.test)
check "swaks --tlsc to listen_tls, backend TLS: TLS, accepted" tls_250 "$out"
check "... greeting from Postfix inside the client's TLS" grep -q '^<~  220 backend.example.test ESMTP' <<<"$out"
check "... held" wait_for 30 held_has both1@example.test
out=$(sw --server "127.0.0.1:$A1" --tls --to both2@example.test)
check "swaks --tls (STARTTLS to the proxy), backend TLS: TLS, accepted" tls_250 "$out"
check "... the proxy's STARTTLS offered before TLS" grep -q '^<-  250.STARTTLS' <<<"$out"
check "... held" wait_for 30 held_has both2@example.test
no_btls_error() { ! grep -i 'backend TLS' "$1" | grep -qiE 'fail|error|verify|mismatch'; }
check "no 'backend TLS' error logged for the good sessions" no_btls_error "$ALOG"
check "the proxy (backend TLS) is still up" kill -0 "$APID"

# 20 sessions at once: the proxy's backend handshakes do not block each other
tool gen "$TMP/small.txt" 3000 >/dev/null
pfx_clear_held
out=$(for i in $(seq 20); do tool send "$A1" "$TMP/small.txt" & done; wait)
check_eq "20 clients at once through backend TLS: twenty 250" "$(grep -cx 'sent 250' <<<"$out")" 20
grep -vx 'sent 250' <<<"$out" | head -5 | sed 's/^/# /'
held20() { [ "$(pfx_held_count)" -ge 20 ]; }
check "... twenty messages held by Postfix" wait_for 50 held20
got=$(pfx_held_bodies | tool held | awk '{print $2}' | sort -u)
check_eq "... every body byte-identical" "$got" "$(tool sha "$TMP/small.txt")"

# SIGHUP: the proxy goes on speaking TLS to the backend
kill -HUP "$APID"
sleep 1
out=$(sw --server "127.0.0.1:$A1" --to hup@example.test)
check "after SIGHUP: still accepted over backend TLS" is_250 "$out"
check "... the proxy is still up" kill -0 "$APID"

# name match is case-insensitive (RFC 6125); SNI is backend_tls_name
A3=$(free_port)
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\nbackend_tls = yes\nbackend_tls_ca = %s\nbackend_tls_name = MX.Backend.TEST\nverdict_socket = none\n' \
	"$A3" "$PFX_PORT" "$TMP/ca.pem" >"$TMP/a3.ini"
start_proxy "$TMP/a3.ini" || fail "proxy (backend_tls_name in upper case) starts"
out=$(sw --server "127.0.0.1:$A3" --to case@example.test)
check "backend_tls_name = MX.Backend.TEST matches DNS:mx.backend.test: accepted" is_250 "$out"

# --- backend_xclient inside the backend TLS ----------------------------------
X1=$(free_port) X2=$(free_port)
cat >"$TMP/x.ini" <<EOF
[proxy]
listen = 127.0.0.1:$X1
listen_tls = 127.0.0.1:$X2
backend = 127.0.0.1:$PFX_PORT
$BTLS
backend_xclient = yes
hostname = proxy.example.test
verdict_socket = none
$FRONT
EOF
start_proxy "$TMP/x.ini" || fail "proxy (backend_tls + backend_xclient) starts"
pfx_client() { grep -qE "client=unknown\[$1\]" "$PFX_LOG"; }
n0=$(tlslines)
out=$(sw --server "127.0.0.1:$X1" --local-interface 127.0.0.2 --to x1@example.test)
check "backend_xclient + backend TLS, plain client from 127.0.0.2: accepted" is_250 "$out"
check "... Postfix logged client=unknown[127.0.0.2]" wait_for 50 pfx_client '127\.0\.0\.2'
check "... over TLS (Postfix logged a TLS connection)" \
	bash -c "[ \$(grep -c 'TLS connection established from' '$PFX_LOG') -gt $n0 ]"
out=$(sw --server "127.0.0.1:$X2" --local-interface 127.0.0.3 --tlsc --to x2@example.test)
check "backend_xclient + both TLS legs (listen_tls) from 127.0.0.3: accepted" tls_250 "$out"
check "... Postfix logged client=unknown[127.0.0.3]" wait_for 50 pfx_client '127\.0\.0\.3'
check "... Postfix's reply to XCLIENT is the client's greeting" grep -q '^<~  220 backend.example.test ESMTP' <<<"$out"
check "Postfix logged no XCLIENT/TLS warning" bash -c "! grep -qiE 'warning: .*(xclient|tls)' '$PFX_LOG'"

# --- 3. failures: 421 4.4.1 and a "backend TLS" log line ----------------------
# fail_case NAME PORT LOG ERE: a client gets 421 4.4.1 and is closed; the log
# has a "backend TLS" line matching ERE.
fail_case() {
	local name=$1 port=$2 log=$3 ere=$4 out
	out=$(tool greet "$port")
	sed 's/^/# /' <<<"$out"
	check "$name: the client gets 421 4.4.1 ... backend not reachable" \
		has "$out" '^greet [0-9.]+ 421 4\.4\.1 [^ ]+ Error: backend not reachable, try again later$'
	check "$name: ... and is closed" has "$out" '^closed True'
	check "$name: the log says backend TLS and why" \
		wait_for 20 bash -c "grep -i 'backend TLS' '$log' | grep -qiE '$ere'"
	GREET_T=$(awk '/^greet/ {print $2}' <<<"$out")
}
held_before=$(pfx_held_count)
F1=$(free_port)
cat >"$TMP/f1.ini" <<EOF
[proxy]
listen = 127.0.0.1:$F1
backend = 127.0.0.1:$PFX_PORT
backend_tls = yes
backend_tls_ca = $TMP/ca.pem
backend_tls_name = wrong.test
verdict_socket = none
EOF
start_proxy "$TMP/f1.ini" || fail "proxy (backend_tls_name = wrong.test) starts"
fail_case "backend_tls_name = wrong.test" "$F1" "$PROXY_LOG" 'hostname|mismatch|verify'
grep -i 'backend TLS' "$PROXY_LOG" | head -2 | sed 's/^/# log: /'
out=$(sw --server "127.0.0.1:$F1" --to wrong@example.test)
check "... swaks: 421 4.4.1 at the greeting, nothing sent" \
	bash -c "grep -q '^<\*\* 421 4.4.1 ' <<<'$out' && ! grep -q '^ -> MAIL' <<<'$out'"

F2=$(free_port)
cat >"$TMP/f2.ini" <<EOF
[proxy]
listen = 127.0.0.1:$F2
backend = 127.0.0.1:$PFX_PORT
backend_tls = yes
backend_tls_ca = $TMP/ca2.pem
backend_tls_name = mx.backend.test
verdict_socket = none
EOF
start_proxy "$TMP/f2.ini" || fail "proxy (backend_tls_ca = another CA) starts"
fail_case "backend_tls_ca that did not sign the backend's cert" "$F2" "$PROXY_LOG" 'verify|issuer|certificate'
grep -i 'backend TLS' "$PROXY_LOG" | head -2 | sed 's/^/# log: /'

F3=$(free_port)
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\nbackend_tls = yes\nbackend_tls_name = mx.backend.test\nverdict_socket = none\n' \
	"$F3" "$PFX_PORT" >"$TMP/f3.ini"
start_proxy "$TMP/f3.ini" || fail "proxy (no backend_tls_ca: system trust store) starts"
fail_case "no backend_tls_ca (system store does not know the test CA)" "$F3" "$PROXY_LOG" 'verify|issuer|certificate'
check_eq "no failed session reached Postfix's queue" "$(pfx_held_count)" "$held_before"

# self-signed backend certificate for the right name, while a CA is given;
# the same python backend with the CA-signed certificate is the control.
BS=$(free_port) BG=$(free_port)
bg bself python3 "$PXDIR/btls_backend.py" "$BS" "$TMP/bself.log" "$TMP/self.pem" "$TMP/self.key"
wait_port "$BS"
bg bgood python3 "$PXDIR/btls_backend.py" "$BG" "$TMP/bgood.log" "$TMP/srv.pem" "$TMP/srv.key"
wait_port "$BG"
F4=$(free_port) G1=$(free_port)
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\n%s\nverdict_socket = none\n' "$F4" "$BS" "$BTLS" >"$TMP/f4.ini"
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\n%s\nverdict_socket = none\n' "$G1" "$BG" "$BTLS" >"$TMP/g1.ini"
start_proxy "$TMP/g1.ini" || fail "proxy (python TLS backend, CA-signed) starts"
out=$(py "
c = Client($G1)
print('greet', c.greeting); print('ehlo', c.cmd('EHLO x')); c.cmd('QUIT')")
check_eq "control: python TLS backend with the CA-signed cert: its greeting relayed" \
	"$(grep '^greet' <<<"$out")" "greet 220 btls ESMTP"
check "... the proxy sent SNI mx.backend.test" wait_for 20 grep -qx 'sni mx.backend.test' "$TMP/bgood.log"
start_proxy "$TMP/f4.ini" || fail "proxy (self-signed backend) starts"
fail_case "self-signed backend cert (right name) with backend_tls_ca" "$F4" "$PROXY_LOG" 'verify|self.signed|certificate'
check "... the backend saw no SMTP command" bash -c "! grep -qiE '^(EHLO|HELO|MAIL|QUIT)' '$TMP/bself.log'"

# a plaintext backend (smtp-sink) with backend_tls = yes, connect_timeout 3s
F5=$(free_port)
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\n%s\nconnect_timeout = 3s\nverdict_socket = none\n' \
	"$F5" "$SINK" "$BTLS" >"$TMP/f5.ini"
start_proxy "$TMP/f5.ini" || fail "proxy (plaintext backend) starts"
F5PID=$PROXY_PID
F5LOG=$PROXY_LOG
fail_case "plaintext backend (smtp-sink)" "$F5" "$F5LOG" 'handshake|version|record|ssl|tls|protocol|plain'
check "... within connect_timeout = 3s (got ${GREET_T:-?} s)" between "$GREET_T" 0 3.6
grep -i 'backend TLS' "$F5LOG" | head -2 | sed 's/^/# log: /'
check "... the proxy is still up" kill -0 "$F5PID"
out=$(tool greet "$F5")
check "... and answers the next client too (421 4.4.1 again, in time)" \
	bash -c "grep -qE '^greet ([0-2]\.|3\.[0-6])[0-9]* 421 4\.4\.1 ' <<<'$out'"
out=$(for i in 1 2 3 4 5; do tool greet "$F5" & done; wait)
check_eq "... 5 clients at once: five 421 4.4.1" "$(grep -cE '^greet [0-9.]+ 421 4\.4\.1 ' <<<"$out")" 5
grep -vE '^(greet [0-9.]+ 421 4\.4\.1 .*|closed True)$' <<<"$out" | sed -n l | sed 's/^/# unexpected: /'

# a backend that accepts TCP but never answers the ClientHello
BQ=$(free_port)
bg bquiet python3 "$PXDIR/btls_backend.py" "$BQ" "$TMP/bquiet.log" --silent
wait_port "$BQ"
F6=$(free_port)
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\n%s\nconnect_timeout = 3s\nverdict_socket = none\n' \
	"$F6" "$BQ" "$BTLS" >"$TMP/f6.ini"
start_proxy "$TMP/f6.ini" || fail "proxy (silent backend) starts"
F6PID=$PROXY_PID
F6LOG=$PROXY_LOG
fail_case() { # as above, but the log line is only required to say "timed out"
	local out
	out=$(tool greet "$2")
	sed 's/^/# /' <<<"$out"
	check "$1: the client gets 421 4.4.1 ... backend not reachable" \
		has "$out" '^greet [0-9.]+ 421 4\.4\.1 [^ ]+ Error: backend not reachable, try again later$'
	check "$1: ... and is closed" has "$out" '^closed True'
	check "$1: the log says it timed out" wait_for 20 grep -qiE "$4" "$3"
	GREET_T=$(awk '/^greet/ {print $2}' <<<"$out")
}
fail_case "backend silent after accept (no ServerHello)" "$F6" "$F6LOG" 'backend TLS: handshake timed out'
grep -iE 'timed out|timeout|backend TLS' "$F6LOG" | head -2 | sed 's/^/# log: /'
check "... after about connect_timeout = 3s (got ${GREET_T:-?} s)" between "$GREET_T" 2.5 4.5
check "... the backend connection is closed too" wait_for 30 grep -q '^closed after' "$TMP/bquiet.log"
check "... the proxy is still up" kill -0 "$F6PID"

# the good proxy still works after all this
out=$(sw --server "127.0.0.1:$A1" --to last@example.test)
check "after the failures the good proxy still delivers over backend TLS" is_250 "$out"

# --- 5. SIGTERM: exit 0, no sanitizer report -----------------------------------
echo "# run time: $(($(date +%s) - T0)) s"
finish
