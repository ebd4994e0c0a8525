"""A raw SMTP client for proxy tests: sends exact bytes, reads replies.

Every read has a timeout, so a test never hangs on a silent peer.
"""
import socket
import time

TIMEOUT = 10


class Client:
    def __init__(self, port, host="127.0.0.1", greet=True, src=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(TIMEOUT)
        if src:
            self.s.bind((src, 0))
        self.s.connect((host, port))
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def _line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line.decode("latin-1").rstrip("\r\n")

    def reply(self):
        """One whole reply: its lines joined by '|'."""
        lines = [self._line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self._line())
        return "|".join(lines)

    def code(self):
        return self.reply()[:3]

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self):
        """True if the peer closes (after any pending bytes)."""
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (socket.timeout, OSError):
            return False

    def close(self):
        self.s.close()


def message(mail_from, rcpts, body, port, ehlo="test"):
    """Send one message; returns the final reply."""
    c = Client(port)
    c.cmd("EHLO " + ehlo)
    c.cmd("MAIL FROM:<%s>" % mail_from)
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
    r = c.cmd("DATA")
    if r.startswith("354"):
        c.send(body + b"\r\n.\r\n")
        r = c.reply()
    c.cmd("QUIT")
    c.close()
    return r


def now():
    return time.monotonic()
