"""A process outside any Berth session that takes ports.

`python3 port_grabber.py PORT PIDFILE`: binds 127.0.0.1:PORT, listens and accepts (so a plain TCP
probe of the port succeeds), writes its pid to PIDFILE once it holds the port, and runs until killed.
Tests start it from a hook (between Berth's lease and the service's bind) with Berth's process marker
removed and in a session of its own, so it is nobody's service: what a port race looks like.

`python3 port_grabber.py --on-demand DIR PIDFILE`: takes each port PORT for which a file `want-PORT`
appears in DIR, then writes `held-PORT` there; a service command asks it for its own port right before
binding, so every port the session tries is taken (the test of the bounded retry).

`python3 port_grabber.py --watch ENVFILE VAR PIDFILE`: waits for ENVFILE (a session's `.env.berth`)
to appear, then takes the port its VAR names, once: between Berth's lease and compose's publish."""

from __future__ import annotations

import os
import selectors
import socket
import sys
import time
from pathlib import Path


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # no TIME_WAIT left to block the next test
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> None:
    on_demand = argv[0] == "--on-demand"
    folder = Path(argv[1]) if on_demand else None
    pidfile = Path(argv[-1])
    sel = selectors.DefaultSelector()
    if argv[0] == "--watch":
        envfile, var = Path(argv[1]), argv[2]
        while not envfile.is_file():
            time.sleep(0.002)
        values = dict(line.split("=", 1) for line in envfile.read_text().splitlines() if "=" in line)
        sel.register(_listen(int(values[var])), selectors.EVENT_READ)
    elif folder is None:
        sel.register(_listen(int(argv[0])), selectors.EVENT_READ)
    _write(pidfile, str(os.getpid()))
    held: set[int] = set()
    while True:
        for key, _ in sel.select(timeout=0.01):
            conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
            conn.close()
        if folder is not None:
            for want in folder.glob("want-*"):
                port = int(want.name.removeprefix("want-"))
                if port not in held:
                    sel.register(_listen(port), selectors.EVENT_READ)
                    held.add(port)
                    _write(folder / f"held-{port}", str(os.getpid()))
        else:
            time.sleep(0)


if __name__ == "__main__":
    main(sys.argv[1:])
