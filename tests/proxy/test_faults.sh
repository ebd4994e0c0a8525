#!/bin/bash
# The proxy killed with SIGKILL mid-traffic and started again: no message
# the client saw accepted (250 after its DATA) is missing at the backend.
# The proxy relays the backend's reply to the end of DATA only after the
# backend gave it, so an accepted message is already the backend's; a
# message caught by the kill is not acknowledged, and the client retries.
# A client or backend that resets its connection while the proxy's buffer
# from it is full (replies held by the tarpit) ends the session at once.
. "$(dirname "$0")/pxlib.sh"

SINK=$(free_port) PX=$(free_port)
mkdir -p "$TMP/dump" && chmod 777 "$TMP/dump"
start_sink "$SINK" -d "$TMP/dump/%d.%H%M%S."
cat >"$TMP/p.ini" <<EOF
[proxy]
listen = 127.0.0.1:$PX
backend = 127.0.0.1:$SINK
verdict_socket = none
EOF
start_proxy "$TMP/p.ini" || { fail "proxy start"; finish; }
FIRST=$PROXY_PID

# The sender: up to 300 messages, one session each, bounded to 60 s; each
# connect retried for up to 5 s while the proxy is down.  Prints the
# sequence numbers the proxy answered 250 for.
cat >"$TMP/send.py" <<'PY'
import socket, sys, time
port, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
acc, failed, end = [], 0, time.time() + 60

def session(i):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rb")
    def reply():
        line = f.readline()
        while len(line) > 3 and line[3:4] == b"-":
            line = f.readline()
        if not line:
            raise EOFError
        return line
    reply()
    for cmd in (b"EHLO sender.example\r\n", b"MAIL FROM:<a@example.org>\r\n",
                b"RCPT TO:<b@example.com>\r\n", b"DATA\r\n"):
        s.sendall(cmd)
        reply()
    s.sendall(b"Subject: fault %d\r\nX-Seq: %d\r\n\r\n" % (i, i) + b"line\r\n" * 50)
    time.sleep(0.02)  # sessions spend most of their time inside DATA,
    s.sendall(b".\r\n")  # where the kill most likely finds them
    ok = reply().startswith(b"250")
    try:
        s.sendall(b"QUIT\r\n")
        reply()
    except Exception:
        pass
    s.close()
    return ok

for i in range(n):
    if time.time() > end:
        break
    t0 = time.time()
    while True:
        try:
            if session(i):
                acc.append(i)
            else:
                failed += 1
            break
        except ConnectionRefusedError:
            if time.time() - t0 > 5:
                failed += 1
                break
            time.sleep(0.05)
        except Exception:
            failed += 1
            break
    time.sleep(0.01)
open(out, "w").write(" ".join(map(str, acc)) + "\n")
print("accepted %d failed %d" % (len(acc), failed))
PY
timeout 90 python3 "$TMP/send.py" "$PX" 300 "$TMP/accepted" >"$TMP/send.out" 2>&1 &
SENDER=$!
on_exit "kill $SENDER"

# kill the proxy once traffic flows, then start it again
for _ in $(seq 100); do
	[ "$(ls "$TMP/dump" | wc -l)" -ge 40 ] && break
	sleep 0.05
done
kill -9 "$FIRST"
wait "$FIRST" 2>/dev/null
check "the proxy was killed with SIGKILL mid-traffic" bash -c "! kill -0 $FIRST 2>/dev/null"
# the killed one is not part of the clean-exit check at the end
PROXY_PIDS=("${PROXY_PIDS[@]:1}")
PROXY_LOGS=("${PROXY_LOGS[@]:1}")
start_proxy "$TMP/p.ini" || { fail "proxy restart"; finish; }
ok "the proxy started again on the same port"

wait "$SENDER"
cat "$TMP/send.out"
read -r -a acc <"$TMP/accepted"
check "messages were accepted before the kill and after the restart" \
	bash -c "[ ${#acc[@]} -ge 60 ] && [ ${acc[-1]:-0} -gt $(( ${#acc[@]} / 2 )) ]"
missing=0
for i in "${acc[@]}"; do
	grep -rqlx "X-Seq: $i" "$TMP/dump" 2>/dev/null || grep -rql "^X-Seq: $i\$" "$TMP/dump" || {
		missing=$((missing + 1))
		echo "# accepted message $i is not at the backend"
	}
done
check_eq "every accepted message is at the backend" "$missing" 0

# --- a peer resets while the proxy's buffer from it is full ---------------
# The tarpit holds every reply, so the client's pipelined commands fill
# the proxy's input buffer (PIPELINE_MAX forwarded, 8 KB more waiting), or
# the backend's long replies fill the buffer from the backend.  The proxy
# reads nothing into a full buffer, so no read saw the reset; epoll reports
# HUP/ERR whatever the interest, and the proxy once spun at 100% CPU until
# the tarpit or the idle timeout freed the session.
# The backend: greets; "NOOP long" gets a 300-byte reply, "NOOP reset" a
# reset (SO_LINGER 0) once the proxy's kernel has acknowledged every reply
# (a reset drops what is still unsent), anything else "250 ok".
cat >"$TMP/rstbe.py" <<'PY'
import fcntl, socket, struct, sys, termios, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(b"220 rst ESMTP\r\n")
    for line in c.makefile("rb"):
        if line.startswith(b"NOOP reset"):
            for _ in range(500):
                if struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, b"\0" * 4))[0] == 0:
                    break
                time.sleep(0.01)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            break
        c.sendall(b"250 " + b"x" * 296 + b"\r\n" if line.startswith(b"NOOP long") else b"250 ok\r\n")
    c.close()
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
PY
RBE=$(free_port) RPX=$(free_port)
bg rstbe timeout 300 python3 "$TMP/rstbe.py" "$RBE"
wait_port "$RBE" || fail "reset backend starts"
cat >"$TMP/r.ini" <<EOF
[proxy]
listen = 127.0.0.1:$RPX
backend = 127.0.0.1:$RBE
verdict_socket = none
[main]
tarpit_delay = 120
[rate_rcpt_host]
enabled = true
default = 1/1m
EOF
start_proxy "$TMP/r.ini" || { fail "proxy (tarpit) start"; finish; }
RPID=$PROXY_PID RLOG=$PROXY_LOG
# wait_sessions N: up to 10 s for N open sessions (the tarpit holds 120 s)
wait_sessions() {
	local i
	for ((i = 0; i < 20; i++)); do
		[ "$(usr1_count "$RPID" "$RLOG" sessions)" = "$1" ] && return 0
		sleep 0.5
	done
	return 1
}
# tarpitted SRC: a client tarpitted by its second RCPT (the rate counts
# per address: one each); what it pipelines next follows
tarpitted() { echo "
import socket, struct, time
c = Client($RPX, src='$1')
c.cmd('HELO x'); c.cmd('MAIL FROM:<a@b.test>'); c.cmd('RCPT TO:<r1@d.test>')
"; }
out=$(py "$(tarpitted 127.0.0.71)
c.send(b'RCPT TO:<r2@d.test>\r\n' + b'NOOP\r\n' * 70)
time.sleep(0.5)
c.s.setblocking(False)
sent = 0
try:
    while sent < 1000000:
        sent += c.s.send(b'NOOP\r\n' * 1000)
except BlockingIOError:
    pass
print('queued', sent >= 8192)
time.sleep(0.5)
c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
c.s.close()
" 2>&1)
check_eq "client side: commands pile up behind the tarpit (more than 8 KB unread)" "$out" "queued True"
check "client side: a reset with the input buffer full ends the session" wait_sessions 0
out=$(py "$(tarpitted 127.0.0.72)
c.send(b'RCPT TO:<r2@d.test>\r\n' + b'NOOP long\r\n' * 60 + b'NOOP reset\r\n')
try:
    print(c.reply())
except Exception as e:
    print('no reply:', repr(e))
print('closed', c.closed())
" 2>&1)
sed 's/^/# /' <<<"$out"
check "backend side: a reset with 18 KB of replies held: 421 connection to backend lost" \
	grep -q '^421 4.4.2 .*connection to backend lost' <<<"$out"
check "backend side: ... and the proxy closes the client's connection" grep -q '^closed True' <<<"$out"
check "backend side: ... the session is gone" wait_sessions 0
check "the proxy is still running" kill -0 "$RPID"
finish
