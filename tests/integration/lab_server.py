#!/usr/bin/env python3
"""Accept TCP connections on the given ports (IPv4 and IPv6) and hold each
open until the client closes it, then close too.  Runs until killed, or
for at most --max-seconds (a bound so a lost test never leaves it running).

  lab_server.py [--max-seconds N] PORT [PORT...]"""
import selectors
import socket
import sys
import time

args = sys.argv[1:]
limit = 600
if args and args[0] == "--max-seconds":
    limit = int(args[1])
    args = args[2:]
sel = selectors.DefaultSelector()
for p in args:
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, int(p)))
        s.listen(1024)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "listen")
print("listening", flush=True)
end = time.time() + limit
while time.time() < end:
    for key, _ in sel.select(timeout=1):
        s = key.fileobj
        if key.data == "listen":
            try:
                c, _ = s.accept()
            except OSError:
                continue
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ, "conn")
        else:
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if not d:
                sel.unregister(s)
                s.close()
