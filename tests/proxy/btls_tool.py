#!/usr/bin/env python3
"""Helpers for tests/proxy/test_backend_tls.sh.
  btls_tool.py gen FILE BYTES    a deterministic message body (LF line ends,
                                 lines of 0..200 chars, some starting with
                                 "." so dot-stuffing is exercised) of about
                                 BYTES bytes
  btls_tool.py send PORT FILE [SRC]
                                 send FILE as the body of one message (with
                                 a Subject header) through PORT with smtplib
                                 (plain); prints "sent CODE" or "error ..."
  btls_tool.py sha FILE          sha256 of FILE with CRLF made LF
  btls_tool.py held              read pfx_held_bodies output on stdin; print
                                 "QUEUEID SHA256 BYTES" of each body (without
                                 the empty line that ends the headers)
  btls_tool.py greet PORT [SRC]  connect, print "greet SECONDS REPLY" and
                                 "closed True|False"
"""
import hashlib, os, random, smtplib, socket, sys, time


def gen(path, size):
    r = random.Random(4711)
    out, n = [], 0
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+/()<>'"
    while n < size:
        k = r.randrange(0, 200)
        line = "".join(r.choice(alphabet) for _ in range(k))
        if r.random() < 0.05:
            line = "." + line
        if r.random() < 0.01:
            line = "."
        out.append(line)
        n += len(line) + 1
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def send(port, path, src=None):
    body = open(path).read()
    msg = "From: b@sender.test\nTo: big@example.test\nSubject: big\n\n" + body
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=30,
                         source_address=(src, 0) if src else None)
        s.ehlo("client.test")
        s.mail("b@sender.test")
        s.rcpt("big@example.test")
        code, _ = s.data(msg.encode())
        os.write(1, b"sent %d\n" % code)
        s.quit()
    except Exception as e:
        os.write(1, ("error %r\n" % e).encode())


def sha(path):
    d = open(path, "rb").read().replace(b"\r\n", b"\n")
    print(hashlib.sha256(d).hexdigest())


def held():
    cur, body = None, []

    def emit():
        if cur is None:
            return
        b = body[1:] if body and body[0] == b"\n" else body
        # postcat -b (Postfix 3.7) ends each body with one more empty line
        if b and b[-1] == b"\n":
            b = b[:-1]
        d = b"".join(b)
        print(cur, hashlib.sha256(d).hexdigest(), len(d))
    for line in sys.stdin.buffer:
        if line.startswith(b"=== held "):
            emit()
            cur, body = line.split()[2].decode(), []
        else:
            body.append(line.replace(b"\r\n", b"\n"))
    emit()


def greet(port, src=None):
    s = socket.socket()
    s.settimeout(20)
    if src:
        s.bind((src, 0))
    t = time.monotonic()
    s.connect(("127.0.0.1", port))
    buf = b""
    try:
        while b"\n" not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
    except OSError as e:
        buf += (" [%s]" % type(e).__name__).encode()
    head = "greet %.2f %s\n" % (time.monotonic() - t, buf.decode("latin-1").strip() or "-")
    closed = False
    try:
        s.settimeout(5)
        while True:
            d = s.recv(4096)
            if not d:
                closed = True
                break
    except OSError:
        pass
    # one write for both lines: with PYTHONUNBUFFERED=1 print() makes two
    # writes per line, and several clients share the caller's pipe
    os.write(1, (head + "closed %s\n" % closed).encode())


cmd = sys.argv[1]
if cmd == "gen":
    gen(sys.argv[2], int(sys.argv[3]))
elif cmd == "send":
    send(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
elif cmd == "sha":
    sha(sys.argv[2])
elif cmd == "held":
    held()
elif cmd == "greet":
    greet(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
