#!/bin/bash
# mxlimit-proxy basics: options and config errors, a message through to
# smtp-sink on IPv4 and IPv6, max_clients, backend down, overlong lines,
# NUL bytes, bare LF, XCLIENT, client gone mid-DATA, slow-drip timeout.
. "$(dirname "$0")/pxlib.sh"

# --- options and configuration errors ---
"$MXPROXY" --help >"$TMP/help" 2>&1
check_eq "--help exits 0" "$?" 0
check "--help shows usage" grep -q 'usage: mxlimit-proxy' "$TMP/help"
"$MXPROXY" --bogus >/dev/null 2>&1
check_eq "bad option exits 2" "$?" 2

printf '[proxy]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525\nmax_clients = lots\n' >"$TMP/bad.ini"
out=$("$MXPROXY" -c "$TMP/bad.ini" -t 2>&1)
check_eq "bad value exits 2" "$?" 2
check "bad value names file:line" grep -q "bad.ini:4: max_clients" <<<"$out"
printf '[proxy]\nlisten = 1.2.3.4.5:25\n' >"$TMP/bad2.ini"
out=$("$MXPROXY" -c "$TMP/bad2.ini" -t 2>&1)
check_eq "bad listen exits 2" "$?" 2
check "bad listen names file:line" grep -q "bad2.ini:2: bad listen address" <<<"$out"
printf '[main]\n' >"$TMP/noproxy.ini"
out=$("$MXPROXY" -c "$TMP/noproxy.ini" -t 2>&1)
check_eq "missing [proxy] exits 2" "$?" 2
printf '[proxy]\nlisten = 127.0.0.1:25\n' >"$TMP/nobackend.ini"
out=$("$MXPROXY" -c "$TMP/nobackend.ini" -t 2>&1)
check_eq "missing backend exits 2" "$?" 2
check "missing backend said" grep -q "no backend" <<<"$out"
printf '[proxy]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:26\naccept_proxy = v2\n' >"$TMP/notrust.ini"
"$MXPROXY" -c "$TMP/notrust.ini" -t >/dev/null 2>&1
check_eq "accept_proxy without trusted_proxies exits 2" "$?" 2

# --- a message through, IPv4 and IPv6 listeners ---
SINK=$(free_port)
PX=$(free_port)
mkdir -p "$TMP/dump" && chmod 777 "$TMP/dump"
start_sink "$SINK" -d "$TMP/dump/%M%S."
cat >"$TMP/p.ini" <<EOF
[proxy]
listen = 127.0.0.1:$PX, [::1]:$PX
backend = 127.0.0.1:$SINK
max_clients = 3
line_timeout = 1s
verdict_socket = $TMP/v.sock
[penalty]
max_clients = penalize 1m
EOF
start_verdict "$TMP/v.sock" "$TMP/verdicts"
check "config -t passes" "$MXPROXY" -c "$TMP/p.ini" -t
check "proxy starts" start_proxy "$TMP/p.ini"
out=$(timeout 20 swaks --server 127.0.0.1 --port "$PX" --from a@example.org --to b@example.net 2>&1)
check "swaks through the proxy (IPv4)" grep -q '<-  250 2.0.0 Ok' <<<"$out"
out=$(timeout 20 swaks --server ::1 --port "$PX" -6 --from a@example.org --to b@example.net 2>&1)
check "swaks through the proxy (IPv6)" grep -q '<-  250 2.0.0 Ok' <<<"$out"
check "greeting is the backend's" grep -q '<-  220 smtp-sink' <<<"$out"
sleep 0.2
check_eq "two messages reached smtp-sink" "$(ls "$TMP/dump" | wc -l)" 2

# --- max_clients: the 4th concurrent client gets 421 4.7.0 ---
out=$(py "
cs = [Client($PX) for _ in range(3)]
extra = Client($PX, greet=False)
print(extra.reply()); print(extra.closed())
for c in cs: c.cmd('QUIT')
")
check "over max_clients: 421 4.7.0" grep -q '^421 4.7.0 .*too many connections' <<<"$out"
check "over max_clients: closed" grep -q '^True' <<<"$out"
for ((i = 0; i < 100; i++)); do [ -s "$TMP/verdicts" ] && break; sleep 0.05; done
check_eq "over max_clients: verdict" "$(cat "$TMP/verdicts")" "PENALIZE 127.0.0.1 60 reason=max_clients"

# --- protocol hygiene, each on a fresh connection ---
out=$(py "
c = Client($PX)
long = 'NOOP ' + 'x' * 600
print('long', c.cmd(long))
print('next', c.cmd('NOOP'))
print('nul', c.cmd('NO\0OP'))
print('lf', c.send('NOOP\n') or c.reply())
print('xclient', c.cmd('XCLIENT ADDR=192.0.2.1'))
print('proxy', c.cmd('PROXY TCP4 192.0.2.1 192.0.2.2 1 25'))
print('quit', c.cmd('QUIT'))
")
check "overlong line: 500 5.5.2" grep -q '^long 500 5.5.2' <<<"$out"
check "session usable after overlong line" grep -q '^next 250' <<<"$out"
check "NUL in command: 500 5.5.2" grep -q '^nul 500 5.5.2' <<<"$out"
check "bare LF ends a command line" grep -q '^lf 250' <<<"$out"
check "XCLIENT refused by the proxy" grep -q '^xclient 502 5.5.1' <<<"$out"
check "in-band PROXY from an untrusted client refused" grep -q '^proxy 502' <<<"$out"
check "QUIT answered" grep -q '^quit 221' <<<"$out"

# 512 bytes with CRLF is the limit: 510 + CRLF passes, 511 + CRLF does not
out=$(py "
c = Client($PX)
print('ok', c.cmd('NOOP ' + 'x' * 505))
print('over', c.cmd('NOOP ' + 'x' * 506))
c.cmd('QUIT')
")
check "510-byte command line forwarded" grep -q '^ok 250' <<<"$out"
check "511-byte command line refused" grep -q '^over 500 5.5.2' <<<"$out"

# --- client gone mid-DATA: the backend accepts nothing ---
before=$(ls "$TMP/dump" | wc -l)
py "
c = Client($PX)
c.cmd('EHLO x'); c.cmd('MAIL FROM:<a@b.c>'); c.cmd('RCPT TO:<d@e.f>'); c.cmd('DATA')
c.send('Subject: half\r\n\r\nsome of it\r\n')
c.close()
" >/dev/null
sleep 0.5
check_eq "client closed mid-DATA: no message accepted" "$(ls "$TMP/dump" | wc -l)" "$before"

# --- slow drip: a command line not finished within line_timeout ---
out=$(py "
import time
c = Client($PX)
c.send('NOO')
t = now()
print(c.reply())
print('closed', c.closed(), round(now() - t, 1))
")
check "slow-drip line: 421 4.4.2 timeout" grep -q '^421 4.4.2 .*timeout' <<<"$out"
check "slow-drip line: closed" grep -q '^closed True' <<<"$out"

# --- backend down: 421 4.4.1 ---
DEAD=$(free_port)
PX2=$(free_port)
cat >"$TMP/down.ini" <<EOF
[proxy]
listen = 127.0.0.1:$PX2
backend = 127.0.0.1:$DEAD
verdict_socket = none
EOF
start_proxy "$TMP/down.ini"
out=$(py "
c = Client($PX2, greet=False)
print(c.reply()); print(c.closed())
")
check "backend down: 421 4.4.1" grep -q '^421 4.4.1 ' <<<"$out"
check "backend down: closed" grep -q '^True' <<<"$out"
check "proxy still running" kill -0 "$PROXY_PID"

finish
