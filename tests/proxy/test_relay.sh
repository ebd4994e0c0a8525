#!/bin/bash
# Relay fidelity: 1000 messages through the proxy to smtp-sink arrive
# identical; raw DATA and BDAT bytes (bare LF, bare CR, NUL, dot lines,
# 8-bit) arrive byte-exact at a capturing backend; pipelined replies keep
# command order; a "." line touching a bare LF (SMTP smuggling) is refused.
. "$(dirname "$0")/pxlib.sh"

SINK=$(free_port) CAP=$(free_port) PX=$(free_port) PXC=$(free_port)
mkdir -p "$TMP/dump" && chmod 777 "$TMP/dump"
start_sink "$SINK" -d "$TMP/dump/%d.%H%M%S."
start_capture "$CAP" "$TMP/cap"
for p in "$PX:$SINK" "$PXC:$CAP"; do
	cat >"$TMP/p.${p%%:*}.ini" <<EOF
[proxy]
listen = 127.0.0.1:${p%%:*}
backend = 127.0.0.1:${p##*:}
verdict_socket = none
EOF
	start_proxy "$TMP/p.${p%%:*}.ini"
done

# --- 1000 messages of varied sizes and line lengths through smtp-sink ---
# smtp-sink's dump stores lines with LF endings after its own headers; the
# comparison takes the body after its Received: header the same way.
py "
import hashlib, random
random.seed(7)
h = hashlib.sha256()
alpha = ''.join(random.choice('abc .xyz-=:') for _ in range(4096))
c = Client($PX)
c.cmd('EHLO relay.test')
for i in range(1000):
    n = random.choice([0, 1, 3, 20, 200, 2000])
    lines = []
    for j in range(n):
        w = random.choice([0, 1, 10, 76, 200, 998])
        o = random.randrange(0, 3000)
        lines.append(alpha[o:o + w])
    body = '\r\n'.join(['Subject: m%d' % i, ''] + lines).encode()
    if i % 3 == 0:
        body = body.replace(b'\r\n', b'\n')  # bare-LF lines, as some clients send
    assert c.cmd('MAIL FROM:<s%d@relay.test>' % i).startswith('250')
    assert c.cmd('RCPT TO:<r@relay.test>').startswith('250')
    assert c.cmd('DATA').startswith('354')
    stuffed = b'\n'.join(b'.' + l if l.startswith(b'.') else l for l in body.split(b'\n'))
    c.send(stuffed + b'\r\n.\r\n')
    r = c.reply()
    assert r.startswith('250'), r
    # smtp-sink un-stuffs dots only on CRLF lines, and adds a blank line
    exp = (stuffed if i % 3 == 0 else body).replace(b'\r\n', b'\n') + b'\n\n'
    h.update(exp)
    open('$TMP/exp.%d' % i, 'wb').write(exp)
c.cmd('QUIT')
open('$TMP/sent.sha', 'w').write(h.hexdigest())
"
sleep 0.5
check_eq "1000 messages reached smtp-sink" "$(ls "$TMP/dump" | wc -l)" 1000
python3 - "$TMP/dump" >"$TMP/got.sha" <<'EOF'
import hashlib, os, sys
d = sys.argv[1]
files = []
for f in os.listdir(d):
    data = open(os.path.join(d, f), 'rb').read()
    head, _, rest = data.partition(b'\n\tby smtp-sink')
    body = rest.split(b'\n', 2)[2]          # after the Received header's 2 lines
    num = int(body.split(b'\n', 1)[0].split(b' m')[1])
    files.append((num, body))
h = hashlib.sha256()
for num, body in sorted(files):
    h.update(body)
    exp = open(os.path.join(os.path.dirname(d), 'exp.%d' % num), 'rb').read()
    if exp != body:
        print('message %d differs' % num, file=sys.stderr)
print(h.hexdigest(), end='')
EOF
check_eq "1000 messages identical at smtp-sink (sha256)" "$(cat "$TMP/got.sha")" "$(cat "$TMP/sent.sha")"

# --- byte-exact DATA and BDAT with odd line endings ---
out=$(py "
import hashlib, random
random.seed(11)
c = Client($PXC)
c.cmd('EHLO raw.test')
sent = []
pieces = [b'plain', b'bare\nlf', b'bare\rcr', b'nul\0byte', b'..dotted', b'.x', b'\xff\xfe8bit',
          b' . ', b'tab\tch', b'\r\r\n', b'x' * 5000]
for i in range(60):
    body = b'\r\n'.join(random.choice(pieces) for _ in range(random.randint(1, 40)))
    if b'\n.\n' in body or b'\n.\r' in body or body.startswith(b'.\n'):
        continue
    c.cmd('MAIL FROM:<a@raw.test>'); c.cmd('RCPT TO:<b@raw.test>')
    if i % 2:
        assert c.cmd('DATA').startswith('354')
        c.send(body + b'\r\n.\r\n')
        sent.append(body + b'\r\n')
    else:
        c.send(b'BDAT %d LAST\r\n' % len(body) + body)
        sent.append(body)
    r = c.reply()
    assert r.startswith('250'), r
c.cmd('QUIT')
print('sent', hashlib.sha256(b''.join(sent)).hexdigest(), len(sent))
")
got=$(cat "$TMP"/cap/msg.* | sha256sum | cut -d' ' -f1)
check_eq "DATA/BDAT content byte-exact (bare LF/CR, NUL, dots, 8-bit)" \
	"sent $got $(ls "$TMP"/cap/msg.* | wc -l)" "$out"

# --- BDAT chunks that look like commands are never parsed ---
rm -f "$TMP"/cap/msg.*
out=$(py "
c = Client($PXC)
c.cmd('EHLO b')
c.cmd('MAIL FROM:<a@b>'); c.cmd('RCPT TO:<c@d>')
chunk = b'RCPT TO:<x@y>\r\nQUIT\r\n'
c.send(b'BDAT %d\r\n' % len(chunk) + chunk + b'BDAT 3 LAST\r\nend')
print(c.reply()); print(c.reply()); print(c.cmd('QUIT'))
")
check "BDAT chunk with command text relayed as data" grep -q '^250 2.0.0 Ok: queued' <<<"$out"
check_eq "BDAT content exact" "$(cat "$TMP"/cap/msg.*)" "$(printf 'RCPT TO:<x@y>\r\nQUIT\r\nend')"
check "no RCPT from inside the chunk reached the backend as a command" \
	bash -c "! grep -q '^RCPT TO:<x@y>' '$TMP/cap/commands'"

# --- pipelining: replies in command order ---
out=$(py "
c = Client($PXC)
c.send('EHLO p\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@x>\r\nXCLIENT ADDR=1.2.3.4\r\nRCPT TO:<2@x>\r\nBOGUS\r\nRSET\r\nRCPT TO:<3@x>\r\nNOOP\r\n')
for _ in range(9): print(c.reply()[:3])
c.cmd('QUIT')
" | tr '\n' ' ')
check_eq "pipelined replies in order (local replies interleaved)" "$out" "250 250 250 502 250 502 250 503 250 "

# --- AUTH: responses after 334 are not commands; an overlong one cancels ---
out=$(py "
c = Client($PXC)
c.cmd('EHLO a')
print(c.cmd('AUTH LOGIN')[:3], c.cmd('RCPT TO:<looks@like.a.command>')[:3], c.cmd('cGFzcw==')[:3])
print(c.cmd('AUTH LOGIN')[:3], c.cmd('A' * 5000)[:3], c.cmd('NOOP')[:3])
")
check "AUTH LOGIN exchange relayed (334 334 235)" grep -q '^334 334 235$' <<<"$out"
check "SASL response shaped like RCPT reached the backend as a response" \
	grep -q '^auth-response RCPT TO:<looks@like.a.command>' "$TMP/cap/commands"
check "overlong SASL response: exchange cancelled with *, session goes on" \
	grep -q '^334 501 250$' <<<"$out"
# an AUTH line may be long (an initial response), however it is spelled
out=$(py "
c = Client($PXC)
c.cmd('EHLO a')
print(c.cmd('\\tauth  login ' + 'B' * 3000)[:3], c.cmd('*')[:3], c.cmd('X' * 600)[:9])
")
check_eq "a 3000-byte AUTH line (blank before the verb) is relayed; other lines stop at 512" \
	"$out" "334 501 500 5.5.2"
check "... in its canonical spelling" grep -q "^AUTH login B\{3000\}$" "$TMP/cap/commands"

# --- SMTP smuggling: a dot line with a bare LF ends nothing, it is refused ---
rm -f "$TMP"/cap/msg.*
for variant in '\n.\n' '\n.\r\n' '\r\n.\n'; do
	out=$(py "
c = Client($PXC)
c.cmd('EHLO s'); c.cmd('MAIL FROM:<a@b>'); c.cmd('RCPT TO:<c@d>'); c.cmd('DATA')
c.send(b'Subject: x\r\n\r\nhello' + b'$variant' + b'MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nspoof\r\n.\r\n')
print(c.reply()); print(c.closed())
")
	check "smuggling '$variant' refused with 521 5.5.2" grep -q '^521 5.5.2' <<<"$out"
	check "smuggling '$variant' closes" grep -q '^True' <<<"$out"
done
sleep 0.3
check_eq "no smuggled message accepted" "$(ls "$TMP"/cap/msg.* 2>/dev/null | wc -l)" 0
check "no smuggled command reached the backend" bash -c "! grep -q 'evil' '$TMP/cap/commands'"

finish
