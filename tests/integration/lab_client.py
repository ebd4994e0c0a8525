#!/usr/bin/env python3
"""A TCP client driven line by line on stdin (a bash coprocess), so a test
can open, hold and close named connections and look at mxlimit in between.

  open NAME SRC DST PORT [TIMEOUT]  -> "ok NAME" | "timeout NAME" | "refused NAME" | "error NAME MSG"
  close NAME                        -> "closed NAME"   (FIN)
  reset NAME                        -> "closed NAME"   (RST: SO_LINGER 0)
  closeall                          -> "closed N"
  quit
Every connect is bounded by its timeout (default 2 s)."""
import socket
import struct
import sys

conns = {}


def reply(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def do_open(name, src, dst, port, timeout):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect((dst, int(port)))
    except socket.timeout:
        s.close()
        return reply("timeout " + name)
    except ConnectionRefusedError:
        s.close()
        return reply("refused " + name)
    except OSError as e:
        s.close()
        if e.errno in (110, 11):
            return reply("timeout " + name)
        return reply("error %s %s" % (name, e))
    conns[name] = s
    reply("ok " + name)


def do_close(name, rst):
    s = conns.pop(name, None)
    if s is not None:
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    reply("closed " + name)


for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "open":
        do_open(w[1], w[2], w[3], w[4], float(w[5]) if len(w) > 5 else 2.0)
    elif w[0] in ("close", "reset"):
        do_close(w[1], w[0] == "reset")
    elif w[0] == "closeall":
        n = len(conns)
        for k in list(conns):
            conns.pop(k).close()
        reply("closed %d" % n)
    elif w[0] == "quit":
        break
    else:
        reply("error - unknown command " + w[0])
