#!/usr/bin/env python3
"""An SMTPS (TLS from the first byte) backend for tests/proxy/test_backend_tls.sh.
  btls_backend.py PORT LOG CERT KEY     TLS server with that certificate;
                                        logs "sni NAME" per handshake, every
                                        line received, "handshake-error ..."
  btls_backend.py PORT LOG --silent     accepts TCP, never says a byte (a
                                        backend stuck before the handshake);
                                        logs "accepted" and "closed AFTER s"
Exits on its own after 10 minutes."""
import os, socket, ssl, sys, threading, time

threading.Timer(600, lambda: os._exit(0)).start()
port, log = int(sys.argv[1]), sys.argv[2]
silent = sys.argv[3] == "--silent"
lock = threading.Lock()


def note(s):
    with lock, open(log, "a") as o:
        o.write(s + "\n")


ctx = None
if not silent:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])

    def sni(sock, name, c):
        note("sni %s" % name)
    ctx.sni_callback = sni

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)


def quiet(s):
    t = time.monotonic()
    note("accepted")
    s.settimeout(60)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    note("closed after %.1f" % (time.monotonic() - t))
    s.close()


def session(raw):
    raw.settimeout(30)
    try:
        s = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError) as e:
        note("handshake-error %s" % e)
        raw.close()
        return
    try:
        note("tls %s" % s.version())
        f = s.makefile("rb")
        s.sendall(b"220 btls ESMTP\r\n")
        data = False
        for line in f:
            if data:
                if line in (b".\r\n", b".\n"):
                    data = False
                    s.sendall(b"250 2.0.0 Ok: queued\r\n")
                continue
            note(line.decode("latin-1").rstrip("\r\n"))
            w = line.split()
            verb = w[0].upper() if w else b""
            if verb == b"EHLO":
                s.sendall(b"250-btls\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                data = True
                s.sendall(b"354 go\r\n")
            elif verb == b"QUIT":
                s.sendall(b"221 2.0.0 Bye\r\n")
                break
            else:
                s.sendall(b"250 2.0.0 Ok\r\n")
    except (OSError, ssl.SSLError) as e:
        note("error %s" % e)
    s.close()


while True:
    c, _ = srv.accept()
    threading.Thread(target=quiet if silent else session, args=(c,), daemon=True).start()
