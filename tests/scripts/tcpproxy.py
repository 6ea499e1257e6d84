#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that a test controls, for network faults.

    tcpproxy.py TARGET_PORT PORT_FILE

Listens on an ephemeral port of 127.0.0.1 (written to PORT_FILE once it
listens) and forwards every connection to 127.0.0.1:TARGET_PORT.
  SIGUSR1  cut: close every open connection at once (both sides), as a
           dropped link or a restarted middlebox does; new ones forward
  SIGUSR2  blackhole: every open connection stops forwarding in both
           directions but stays open (its TCP is alive: keepalives are
           answered), as a stuck NAT or proxy does; new ones forward
  SIGTERM  exit
Loopback only; it stops by itself after an hour.
"""
import os
import selectors
import signal
import socket
import sys
import time

target = int(sys.argv[1])
port_file = sys.argv[2]
sel = selectors.DefaultSelector()
pairs = {}     # socket -> its peer
held = []      # blackholed sockets, kept open
pending = []   # signals seen, handled in the loop
deadline = time.monotonic() + 3600

lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0))
lsock.listen(64)
lsock.setblocking(False)
sel.register(lsock, selectors.EVENT_READ)
tmp = port_file + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % lsock.getsockname()[1])
os.rename(tmp, port_file)

for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
    signal.signal(sig, lambda s, _f: pending.append(s))


def close_pair(s):
    peer = pairs.pop(s, None)
    for x in (s, peer):
        if x is None:
            continue
        pairs.pop(x, None)
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        x.close()


while time.monotonic() < deadline:
    while pending:
        sig = pending.pop(0)
        if sig == signal.SIGTERM:
            sys.exit(0)
        for s in list(pairs):
            if s not in pairs:
                continue
            if sig == signal.SIGUSR1:
                close_pair(s)
            else:
                sel.unregister(s)
                held.append(s)
                pairs.pop(s)
    try:
        events = sel.select(timeout=0.2)
    except InterruptedError:
        continue
    for key, _ in events:
        s = key.fileobj
        if s is lsock:
            try:
                c, _addr = lsock.accept()
            except OSError:
                continue
            try:
                u = socket.create_connection(("127.0.0.1", target), timeout=5)
            except OSError:
                c.close()   # the server is down: as a refused connection
                continue
            c.setblocking(False)
            u.setblocking(False)
            pairs[c] = u
            pairs[u] = c
            sel.register(c, selectors.EVENT_READ)
            sel.register(u, selectors.EVENT_READ)
            continue
        if s not in pairs:
            continue
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            close_pair(s)
            continue
        peer = pairs[s]
        peer.setblocking(True)
        try:
            peer.sendall(data)
        except OSError:
            close_pair(s)
            continue
        peer.setblocking(False)
