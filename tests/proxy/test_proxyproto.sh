#!/bin/bash
# PROXY protocol: v1 and v2 headers to the backend byte-checked at a
# capturing backend (IPv4 and IPv6); the incoming header from trusted
# balancers only (required from them, never guessed), whose address then
# drives the limits and verdicts; and STARTTLS pass-through.
. "$(dirname "$0")/pxlib.sh"

V1=$(free_port) V2=$(free_port) V2B=$(free_port)
start_capture "$V1" "$TMP/v1" --proxy v1
start_capture "$V2" "$TMP/v2" --proxy v2
start_capture "$V2B" "$TMP/v2b" --proxy v2
PX1=$(free_port) PX2=$(free_port)
for p in "$PX1:$V1:v1" "$PX2:$V2:v2"; do
	IFS=: read -r px be ver <<<"$p"
	printf '[proxy]\nlisten = 127.0.0.1:%s, [::1]:%s\nbackend = 127.0.0.1:%s\nproxy_protocol = %s\nverdict_socket = none\n' \
		"$px" "$px" "$be" "$ver" >"$TMP/$ver.ini"
	start_proxy "$TMP/$ver.ini"
done

# hdr DIR: hex of the newest header the backend captured
hdr() { ls "$1"/header.* | tail -1 | xargs od -An -tx1 -v | tr -d ' \n'; }
# connect SRC PORT: a session from SRC; prints the client's source port
connect() {
	py "
c = Client($2, host='$3', src='$1')
print(c.s.getsockname()[1]); c.cmd('QUIT')"
}

sport=$(connect 127.0.0.5 "$PX1" 127.0.0.1)
check_eq "v1 header (TCP4) byte-exact" "$(cat "$TMP"/v1/header.*)" \
	"$(printf 'PROXY TCP4 127.0.0.5 127.0.0.1 %s %s\r\n' "$sport" "$PX1")"
rm -f "$TMP"/v1/header.*
sport=$(connect ::1 "$PX1" ::1)
check_eq "v1 header (TCP6) byte-exact" "$(cat "$TMP"/v1/header.*)" \
	"$(printf 'PROXY TCP6 ::1 ::1 %s %s\r\n' "$sport" "$PX1")"

sport=$(connect 127.0.0.6 "$PX2" 127.0.0.1)
check_eq "v2 header (TCP4) byte-exact" "$(hdr "$TMP/v2")" \
	"0d0a0d0a000d0a515549540a2111000c7f0000067f000001$(printf '%04x%04x' "$sport" "$PX2")"
rm -f "$TMP"/v2/header.*
sport=$(connect ::1 "$PX2" ::1)
check_eq "v2 header (TCP6) byte-exact" "$(hdr "$TMP/v2")" \
	"0d0a0d0a000d0a515549540a21210024$(printf '0%.0s' {1..31})1$(printf '0%.0s' {1..31})1$(printf '%04x%04x' "$sport" "$PX2")"

# --- incoming PROXY from trusted balancers ---
VSOCK=$TMP/v.sock VLOG=$TMP/verdicts
start_verdict "$VSOCK" "$VLOG"
PX3=$(free_port)
cat >"$TMP/lb.ini" <<EOF
[proxy]
listen = 127.0.0.1:$PX3
backend = 127.0.0.1:$V2B
proxy_protocol = v2
accept_proxy = any
trusted_proxies = 127.0.0.7/32, 127.0.0.8
verdict_socket = $VSOCK
[recipients]
enabled = true
max = 1
[penalty]
recipients = penalize 10m
EOF
start_proxy "$TMP/lb.ini"

out=$(py "
c = Client($PX3, src='127.0.0.7', greet=False)
c.send('PROXY TCP4 192.0.2.7 198.51.100.1 5555 25\r\n')
print(c.reply()[:3]); c.cmd('EHLO lb'); c.cmd('MAIL FROM:<a@b.c>')
print(c.cmd('RCPT TO:<1@x>')[:3], c.cmd('RCPT TO:<2@x>')[:3]); c.cmd('QUIT')
")
check "trusted v1 header accepted, session served" grep -q '^220' <<<"$out"
check "limits apply to the carried client" grep -q '^250 452' <<<"$out"
check_eq "backend gets the carried addresses (v2, 192.0.2.7:5555 -> 198.51.100.1:25)" \
	"$(hdr "$TMP/v2b")" "0d0a0d0a000d0a515549540a2111000cc0000207c633640115b30019"
for ((i = 0; i < 100; i++)); do grep -q 192.0.2.7 "$VLOG" 2>/dev/null && break; sleep 0.05; done
check "verdict names the carried client" grep -q '^PENALIZE 192.0.2.7 600 reason=recipients$' "$VLOG"

rm -f "$TMP"/v2b/header.*
out=$(py "
import struct
v2 = bytes.fromhex('0d0a0d0a000d0a515549540a') + bytes([0x21, 0x21]) + struct.pack('>H', 36 + 7)
v2 += bytes.fromhex('20010db8000000000000000000000042') + bytes.fromhex('20010db8000000000000000000000001')
v2 += struct.pack('>HH', 40000, 25) + bytes([0x04, 0x00, 0x04]) + b'tlv!'   # a TLV, skipped
c = Client($PX3, src='127.0.0.8', greet=False)
c.send(v2 + b'EHLO lb\r\n')
print(c.reply()[:3], c.reply()[:3]); c.cmd('QUIT')
")
check "trusted v2 header with a TLV accepted, pipelined EHLO kept" grep -q '^220 250' <<<"$out"
check_eq "backend gets the carried IPv6 client" "$(hdr "$TMP/v2b")" \
	"0d0a0d0a000d0a515549540a2121002420010db800000000000000000000004220010db80000000000000000000000019c400019"

out=$(py "
c = Client($PX3, src='127.0.0.7', greet=False)
c.send('EHLO no-header\r\n')
print(c.closed())
")
check "trusted peer without a header: closed, nothing guessed" grep -q '^True' <<<"$out"
check "no session reached the backend for it" bash -c "! grep -q 'no-header' '$TMP/v2b/commands'"

out=$(py "
c = Client($PX3, src='127.0.0.9')
print(c.cmd('PROXY TCP4 192.0.2.99 198.51.100.1 5555 25')[:3]); c.cmd('QUIT')
")
check "untrusted peer: a PROXY line is just a refused command" grep -q '^502' <<<"$out"
check_eq "untrusted peer judged by its own address" "$(hdr "$TMP/v2b" | cut -c33-40)" "7f000009"

# --- STARTTLS: pass-through, limits frozen, no plaintext injection ---
CAPT=$(free_port) PXT=$(free_port)
start_capture "$CAPT" "$TMP/tls"
printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\nverdict_socket = none\n[recipients]\nenabled = true\nmax = 1\n' \
	"$PXT" "$CAPT" >"$TMP/tls.ini"
start_proxy "$TMP/tls.ini"
out=$(py "
c = Client($PXT); c.cmd('EHLO t')
c.send('STARTTLS\r\nMAIL FROM:<injected@x>\r\n')
print(c.reply()[:3])
blob = b'\x16\x03\x01\x00\x05hello\r\nRCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\n\x00\xff'
c.send(blob)
got = b''
while len(got) < len(blob):
    got += c.s.recv(4096)
print(got == blob)
c.close()
")
check "STARTTLS answered 220 by the backend" grep -q '^220' <<<"$out"
check "after STARTTLS bytes pass untouched both ways" grep -q '^True' <<<"$out"
sleep 0.3
check "plaintext pipelined after STARTTLS was dropped" bash -c "! ls '$TMP'/tls/injected.* 2>/dev/null"
check "tunnel bytes reached the backend unparsed (limits frozen)" \
	grep -q 'RCPT TO:<2@x>' "$TMP"/tls/tunnel.*

finish
