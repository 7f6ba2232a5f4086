"""Which ``Host`` headers the server answers (DNS-rebinding protection).

A page on an attacker's domain can make a learner's browser talk to a server
on the learner's machine or LAN by re-pointing its DNS name at that address;
the browser then sends ``Host: attacker.example``. Refusing unknown hosts
stops that. The default, ``auto``, accepts the names this machine really has:
loopback (``127.0.0.1``, ``localhost``, ``::1``), its host name (plain, with
``.local`` and fully qualified) and every IP address of its interfaces — so
``make run HOST=0.0.0.0`` serves a class that types ``http://<the teacher's
IP>:8000`` with nothing to configure. Public names (a reverse proxy's) are
added with ``BPL_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct

try:
    import fcntl
except ImportError:  # not on Windows: interface addresses then come from DNS only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("backprop_lab.hosts")

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def machine_addresses() -> set[str]:
    """This machine's host names and IP addresses (best effort, never raises)."""
    names: set[str] = set()
    with contextlib.suppress(OSError):
        host = socket.gethostname()
        names |= {host, f"{host}.local", socket.getfqdn()}
        for info in socket.getaddrinfo(host, None):
            names.add(str(info[4][0]))
    # the address of the default route (a UDP "connect" sends no packet)
    for probe, family in (("192.0.2.1", socket.AF_INET), ("2001:db8::1", socket.AF_INET6)):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            names.add(str(s.getsockname()[0]))
    names |= _interface_ipv4()
    return {n.lower() for n in names if n}


def _interface_ipv4() -> set[str]:
    """IPv4 address of every interface (Linux ioctl; empty elsewhere)."""
    out: set[str] = set()
    if fcntl is None:
        return out
    with contextlib.suppress(OSError, AttributeError), socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as s:
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                req = struct.pack("256s", name.encode()[:15])
                addr = fcntl.ioctl(s.fileno(), 0x8915, req)[20:24]  # SIOCGIFADDR
                out.add(socket.inet_ntoa(addr))
    return out


def resolve_hosts(configured: list[str]) -> list[str]:
    """The Host allowlist: ``configured`` with ``auto`` expanded (``*`` kept as is)."""
    hosts: list[str] = []
    for h in configured:
        if h == "auto":
            hosts += [*LOOPBACK, *sorted(machine_addresses())]
        else:
            hosts.append(h.lower())
    # an IPv6 literal arrives in brackets in a Host header
    hosts += [f"[{h}]" for h in hosts if ":" in h and not h.startswith("[")]
    return list(dict.fromkeys(hosts))
