#!/bin/bash
# The proxy killed with SIGKILL mid-traffic and started again: no message
# the client saw accepted (250 after its DATA) is missing at the backend.
# The proxy relays the backend's reply to the end of DATA only after the
# backend gave it, so an accepted message is already the backend's; a
# message caught by the kill is not acknowledged, and the client retries.
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
finish
