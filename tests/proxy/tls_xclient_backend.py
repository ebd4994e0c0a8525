#!/usr/bin/env python3
"""A backend offering XCLIENT for tests/proxy/test_tls.sh: logs every line it
receives to LOG, answers XCLIENT with "220 xb after-xclient".
  tls_xclient_backend.py PORT LOG
Exits on its own after 10 minutes."""
import os, socket, sys, threading

threading.Timer(600, lambda: os._exit(0)).start()
port, log = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)


def session(s):
    s.settimeout(60)
    try:
        f = s.makefile("rb")
        s.sendall(b"220 xb ESMTP\r\n")
        for line in f:
            with open(log, "ab") as o:
                o.write(line)
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"EHLO":
                s.sendall(b"250-xb\r\n250-XCLIENT ADDR PORT NAME HELO\r\n250 8BITMIME\r\n")
            elif verb == b"XCLIENT":
                s.sendall(b"220 xb after-xclient\r\n")
            elif verb == b"QUIT":
                s.sendall(b"221 bye\r\n")
                break
            else:
                s.sendall(b"250 ok\r\n")
    except OSError:
        pass
    s.close()


while True:
    c, _ = srv.accept()
    threading.Thread(target=session, args=(c,), daemon=True).start()
