"""Local ports: defaults below Linux's ephemeral range, and a clear message when one is taken.

Linux hands out client-side port numbers from 32768-60999 (``net.ipv4.ip_local_port_range``):
a server port in that range can be held by any outgoing connection (even one in TIME-WAIT),
so every default local port of this project is below 32768. When a port is taken by another
program, the server refuses to start with a message naming the setting that moves it.
"""

from __future__ import annotations

import random
import socket

EPHEMERAL_START = 32768
SUGGEST_RANGE = (10_000, 30_000)


class PortTaken(SystemExit):
    """A local server cannot start: its port is used by another program."""


def in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing can listen on ``host:port`` (SO_REUSEADDR, as servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1", rng: random.Random | None = None) -> int:
    """A port below the ephemeral range that is free right now."""
    pick = rng or random.Random()
    for _ in range(200):
        candidate = pick.randint(*SUGGEST_RANGE)
        if not in_use(candidate, host):
            return candidate
    raise RuntimeError(f"no free port found in {SUGGEST_RANGE}")


def taken_message(what: str, port: int, setting: str) -> str:
    return (f"{what}: 127.0.0.1:{port} is already used by another program. "
            f"Set {setting} to a free port, e.g. `export {setting}={free_port()}`, and run again.")


def ensure_free(what: str, port: int, setting: str) -> None:
    """Stop with a message naming ``setting`` when ``port`` is taken."""
    if in_use(port):
        raise PortTaken(taken_message(what, port, setting))
