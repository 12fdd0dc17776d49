"""Which IP addresses a user-supplied URL may reach, and how host names become addresses.

The policy is a plain function of one address so that it can be tested exhaustively and swapped
in tests (a loopback test server must be able to stand in for "the public internet" without the
real policy being weakened).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP address strings``. Called once per URL hop; the fetcher connects only there."""

AddressPolicy = Callable[[IPAddress], bool]
"""Whether the fetcher may connect to an address."""

# Ranges Python's ``is_global`` (3.11) still calls global but that no public server lives in.
_NOT_PUBLIC: Final = (
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (incl. 192.0.0.9/10 anycast)
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 for local use (RFC 8215)
    ipaddress.ip_network("fec0::/10"),  # deprecated site-local
)
_NAT64_WELL_KNOWN: Final = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses: the default policy for input URLs.

    Refused: loopback, RFC 1918 private, link-local (169.254/16, fe80::/10: cloud metadata lives
    there), unique-local fc00::/7, CGNAT 100.64/10, multicast, unspecified, reserved and
    documentation ranges. IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
    6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) are judged by the IPv4 address inside, since
    that is where the packets end up.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    if any(address in network for network in _NOT_PUBLIC):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def is_unicast_address(address: IPAddress) -> bool:
    """The policy under ``allow_private``: any address a server could listen on (tests, trusted LANs)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_unicast_address(address.ipv4_mapped)
    return not (address.is_multicast or address.is_unspecified)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def parse_address(text: str) -> IPAddress | None:
    """The address ``text`` spells in canonical notation (``[::1]`` brackets allowed), else None.

    Only canonical dotted-quad and IPv6 forms count; a host such as ``127.1`` or ``0x7f.1`` is left
    to the resolver, which turns it into the address it really means before the policy sees it.
    """
    try:
        return ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def resolve_with_getaddrinfo(host: str, port: int) -> list[str]:
    """The system resolver: every address of ``host`` for a TCP connection, in preference order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0])
        if text not in addresses:
            addresses.append(text)
    return addresses


def display_address(address: IPAddress) -> str:
    """Addresses as people write them: ``::ffff:127.0.0.1``, which Python 3.11 prints as ``::ffff:7f00:1``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)
