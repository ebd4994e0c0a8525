#!/usr/bin/env python3
"""Test peers for mxlimit-proxy (standard library only).

  pxtool.py backend PORT DIR [--proxy v1|v2]   strict mini SMTP server:
      records the raw PROXY header (DIR/header.N), raw DATA/BDAT content
      (DIR/msg.N) and, after STARTTLS, raw tunnel bytes (DIR/tunnel.N),
      which it echoes back.  Commands are logged to DIR/commands.
  pxtool.py verdict PATH LOG [--refuse]         fake `mxlimit daemon`
      verdict socket: appends each request line to LOG, answers OK (or ERR).

Every server exits on its own after an hour, so a leaked one cannot live
on; tests kill them by pid anyway.
"""
import os
import socket
import sys
import threading
import time

LIFETIME = 3600


def lifetime_guard():
    t = threading.Timer(LIFETIME, lambda: os._exit(0))
    t.daemon = True
    t.start()


class Conn:
    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 100000:
                raise EOFError
            self.fill()
        i = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def send(self, text):
        self.s.sendall(text.encode() if isinstance(text, str) else text)


class Backend:
    def __init__(self, port, outdir, proxy):
        self.port, self.dir, self.proxy = port, outdir, proxy
        self.lock = threading.Lock()
        self.seq = 0

    def next_id(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def log(self, line):
        with self.lock, open(os.path.join(self.dir, "commands"), "ab") as f:
            f.write(line + b"\n")

    def save(self, kind, data):
        n = self.next_id()
        with open(os.path.join(self.dir, "%s.%06d" % (kind, n)), "wb") as f:
            f.write(data)

    def read_header(self, c):
        if self.proxy == "v1":
            self.save("header", c.read_line())
        elif self.proxy == "v2":
            head = c.read_exact(16)
            ln = head[14] << 8 | head[15]
            self.save("header", head + c.read_exact(ln))

    def data(self, c):
        c.send("354 End data with <CR><LF>.<CR><LF>\r\n")
        while b"\r\n.\r\n" not in b"\r\n" + c.buf:
            c.fill()
        whole = b"\r\n" + c.buf
        i = whole.index(b"\r\n.\r\n")
        body = whole[2:i + 2] if i > 0 else b""
        c.buf = whole[i + 5:]
        self.save("msg", body)
        c.send("250 2.0.0 Ok: queued\r\n")

    def auth(self, c):
        """AUTH LOGIN: two challenges; "*" cancels (RFC 4954)."""
        for challenge in ("VXNlcm5hbWU6", "UGFzc3dvcmQ6"):
            c.send("334 %s\r\n" % challenge)
            line = c.read_line().rstrip(b"\r\n")
            self.log(b"auth-response " + line)
            if line == b"*":
                c.send("501 5.7.0 Authentication aborted\r\n")
                return
        c.send("235 2.7.0 Authentication successful\r\n")

    def tunnel(self, c):
        c.send("220 2.0.0 Ready to start TLS\r\n")
        if c.buf:
            self.save("injected", c.buf)
            c.buf = b""
        got = b""
        while True:
            d = c.s.recv(65536)
            if not d:
                break
            got += d
            c.send(d)
        self.save("tunnel", got)

    def session(self, sock):
        c = Conn(sock)
        try:
            self.read_header(c)
            c.send("220 capture ESMTP\r\n")
            self.smtp(c)
        except (EOFError, OSError):
            self.log(b"<eof>")
        finally:
            sock.close()

    def smtp(self, c):
        mail = False
        rcpts = 0
        chunks = b""
        while True:
            raw = c.read_line()
            line = raw.rstrip(b"\r\n")
            self.log(line)
            verb = line.split(b" ")[0].upper()
            if verb in (b"EHLO", b"HELO"):
                c.send("250-capture\r\n250-PIPELINING\r\n250-CHUNKING\r\n"
                       "250-STARTTLS\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n")
                mail, rcpts = False, 0
            elif verb == b"MAIL":
                if mail:
                    c.send("503 5.5.1 Error: nested MAIL command\r\n")
                elif not line.upper().startswith(b"MAIL FROM:"):
                    c.send("501 5.5.4 Syntax: MAIL FROM:<address>\r\n")
                else:
                    mail = True
                    c.send("250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                if not mail:
                    c.send("503 5.5.1 Error: need MAIL command\r\n")
                else:
                    rcpts += 1
                    c.send("250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                if not rcpts:
                    c.send("503 5.5.1 Error: need RCPT command\r\n")
                else:
                    self.data(c)
                    mail, rcpts = False, 0
            elif verb == b"BDAT":
                parts = line.split(b" ")
                chunks += c.read_exact(int(parts[1]))
                if len(parts) > 2:
                    self.save("msg", chunks)
                    chunks = b""
                    mail, rcpts = False, 0
                    c.send("250 2.0.0 Ok: queued\r\n")
                else:
                    c.send("250 2.0.0 Ok: %d octets\r\n" % int(parts[1]))
            elif verb == b"RSET":
                mail, rcpts = False, 0
                c.send("250 2.0.0 Ok\r\n")
            elif verb == b"AUTH":
                self.auth(c)
            elif verb == b"NOOP":
                c.send("250 2.0.0 Ok\r\n")
            elif verb == b"STARTTLS":
                self.tunnel(c)
                return
            elif verb == b"QUIT":
                c.send("221 2.0.0 Bye\r\n")
                return
            elif verb == b"XMULTI":
                # a multi-line error reply (counted under [errors])
                c.send("501-5.5.4 first line of a long refusal\r\n"
                       "501-5.5.4 second line\r\n501 5.5.4 last line\r\n")
            elif verb == b"XLFWALL":
                # one reply in bare-LF lines: under bin's size as sent,
                # over cout's once every line gets its CR
                c.send(b"250-\n" * 1599 + b"250 end\n")
            elif verb == b"XSTRAY":
                # an intermediate reply to a command that asks for none
                c.send("354 End data with <CR><LF>.<CR><LF>\r\n")
            else:
                c.send("502 5.5.2 Error: command not recognized\r\n")

    def run(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(128)
        while True:
            s, _ = srv.accept()
            threading.Thread(target=self.session, args=(s,), daemon=True).start()


def verdict(path, logpath, refuse):
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)

    def serve(s):
        c = Conn(s)
        try:
            while True:
                line = c.read_line()
                with open(logpath, "ab") as f:
                    f.write(line)
                c.send("ERR refused\n" if refuse else "OK\n")
        except (EOFError, OSError):
            s.close()

    while True:
        s, _ = srv.accept()
        threading.Thread(target=serve, args=(s,), daemon=True).start()


def main():
    lifetime_guard()
    if sys.argv[1] == "backend":
        proxy = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--proxy" else None
        Backend(int(sys.argv[2]), sys.argv[3], proxy).run()
    elif sys.argv[1] == "verdict":
        verdict(sys.argv[2], sys.argv[3], "--refuse" in sys.argv)
    else:
        sys.exit("unknown mode")


if __name__ == "__main__":
    main()
