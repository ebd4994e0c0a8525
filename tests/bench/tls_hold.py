#!/usr/bin/env python3
"""tls_hold.py PORT N SECONDS: open N TLS-from-the-first-byte SMTP sessions
(listen_tls), complete each handshake, read each greeting, print
"held N greet_ms M" (sessions greeted with 220; M = median milliseconds
from the end of the handshake to the greeting), then hold them idle until
SECONDS pass or stdin closes.  Sessions are opened by 50 threads at once
(a greeting can take a delayed-ACK time, 40 ms, to arrive).  Certificates
are not verified (self-signed bench certificates).  Bounded: every connect,
handshake and read has a 5 s timeout; exits when time is up."""
import select
import socket
import ssl
import sys
import threading
import time

port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + secs
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
socks = []
lat = []
errors = []
lock = threading.Lock()
THREADS = 50


def opener(count):
    for _ in range(count):
        if time.monotonic() > deadline or errors:
            return
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            s = ctx.wrap_socket(raw)  # handshakes (timeout 5 s)
            t = time.monotonic()
            ok = s.recv(512).startswith(b"220")
            t = time.monotonic() - t
        except OSError as e:
            with lock:
                errors.append(str(e))
            return
        with lock:
            socks.append(s)
            if ok:
                lat.append(t)


ths = [threading.Thread(target=opener, args=(n // THREADS + (i < n % THREADS),))
       for i in range(THREADS)]
for t in ths:
    t.start()
for t in ths:
    t.join()
if errors:
    print("tls_hold: %d sessions failed, first: %s" % (len(errors), errors[0]),
          file=sys.stderr, flush=True)
lat.sort()
med = lat[len(lat) // 2] * 1000 if lat else 0.0
print("held %d greet_ms %.1f" % (len(lat), med), flush=True)
while time.monotonic() < deadline:
    r, _, _ = select.select([sys.stdin], [], [], 0.5)
    if r and not sys.stdin.readline():
        break
