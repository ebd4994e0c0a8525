#!/usr/bin/env python3
"""idle_backend.py PORT SECONDS: an SMTP greeter for the idle-connection
benchmark: greets every connection with 220, discards input, holds it.
(smtp-sink stops at 256 sessions.)  Exits after SECONDS."""
import selectors
import socket
import sys
import time

port, secs = int(sys.argv[1]), float(sys.argv[2])
deadline = time.monotonic() + secs
sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(4096)
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
while time.monotonic() < deadline:
    for key, _ in sel.select(0.5):
        if key.fileobj is srv:
            try:
                c, _ = srv.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            c.send(b"220 idle ESMTP\r\n")
            sel.register(c, selectors.EVENT_READ)
        else:
            try:
                d = key.fileobj.recv(4096)
            except OSError:
                d = b""
            if not d:
                sel.unregister(key.fileobj)
                key.fileobj.close()
