"""berth's registry address as each agent must use it.

A registry listening on every address (`0.0.0.0:5000`) is reached by each node through a
different address: the local agent through loopback (which Docker engines treat as plain
HTTP by default), a node in a container through the Docker bridge, a machine on the LAN
through the host's LAN address. The address an agent reached the master at is exactly
the one that reaches this host from that agent, so the master answers that, with the
registry's port.
"""

from __future__ import annotations

WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def check_registry_address(text: str) -> str:
    """`host:port` (or `host`, port 5000) as Docker names a registry; ValueError says what
    is wrong (a scheme or a path has no place in it)."""
    address = text.strip()
    if not address:
        raise ValueError("is empty; give HOST:PORT")
    if "://" in address or "/" in address:
        raise ValueError(f"{text!r} is not HOST:PORT (no scheme, no path)")
    host, sep, port = address.rpartition(":")
    if sep and not host.endswith("]") and ":" in host:
        raise ValueError(f"{text!r}: an IPv6 address goes in brackets, [::1]:5000")
    if sep and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return address if sep else f"{address}:5000"


def split_address(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host, port


def is_wildcard(address: str) -> bool:
    return split_address(address)[0] in WILDCARDS


def address_for(registry: str | None, reached_host: str | None) -> str | None:
    """The registry as told to an agent that reached the master at `reached_host`:
    a wildcard host is replaced by it, any other address is told as configured."""
    if registry is None or not is_wildcard(registry):
        return registry
    host = reached_host or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{split_address(registry)[1]}"


def local_address(registry: str) -> str:
    """How a process on the registry's own host reaches it (loopback for a wildcard)."""
    return address_for(registry, "127.0.0.1") or registry
