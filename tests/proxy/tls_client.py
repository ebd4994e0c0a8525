"""TLS SMTP clients for tests/proxy/test_tls.sh (standard library only).

  TClient(port, ...)           plaintext first (STARTTLS ports); .starttls()
                               sends STARTTLS (plus any pipelined bytes),
                               reads the reply and, on 220, does the handshake.
  TClient(port, implicit=True) TLS from the first byte (listen_tls ports).

Every read has a timeout (smtpc.TIMEOUT), certificates are not verified
(self-signed test certificates); .cert_subject() gives the peer's subject.
"""
import socket
import ssl

from smtpc import Client, TIMEOUT


def context(minv=None, maxv=None, sigalgs=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    return ctx


class TClient(Client):
    def __init__(self, port, host="127.0.0.1", implicit=False, sni=None, src=None,
                 greet=True, ctx=None):
        self.ctx = ctx or context()
        self.sni = sni
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.raw = socket.socket(fam, socket.SOCK_STREAM)
        self.raw.settimeout(TIMEOUT)
        if src:
            self.raw.bind((src, 0))
        self.raw.connect((host, port))
        self.s = self.raw
        self.buf = b""
        if implicit:
            self.handshake()
        self.greeting = self.reply() if greet else None

    def handshake(self):
        self.s = self.ctx.wrap_socket(self.raw, server_hostname=self.sni)
        self.s.settimeout(TIMEOUT)

    def starttls(self, pipelined=b""):
        """STARTTLS (+ pipelined bytes); the reply; handshake on 220."""
        self.send(b"STARTTLS\r\n" + pipelined)
        r = self.reply()
        if r.startswith("220"):
            # whatever arrived in plaintext after the 220 must not be read
            # as TLS: the proxy sends nothing more, so buf is empty here
            self.leftover = self.buf
            self.buf = b""
            self.handshake()
        return r

    def tls_version(self):
        return self.s.version() if isinstance(self.s, ssl.SSLSocket) else None

    def cert_der(self):
        return self.s.getpeercert(binary_form=True)


def subject_of(der):
    """The peer certificate's subject line, via openssl (one line)."""
    import subprocess
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject",
                        "-nameopt", "compat"], input=der, capture_output=True, timeout=10)
    return p.stdout.decode().strip()
