#!/usr/bin/env python3
"""hold_conns.py PORT N SECONDS: open N SMTP connections, wait for each
greeting, print "held N", hold them until SECONDS pass or stdin closes.
Bounded: every connect and read has a timeout; exits when time is up."""
import select
import socket
import sys
import time

port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + secs
socks = []
for i in range(n):
    s = socket.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    socks.append(s)
greeted = 0
for s in socks:
    if time.monotonic() > deadline:
        break
    if s.recv(512).startswith(b"220"):
        greeted += 1
print("held %d" % greeted, flush=True)
while time.monotonic() < deadline:
    r, _, _ = select.select([sys.stdin], [], [], 0.5)
    if r and not sys.stdin.readline():
        break
