"""Which webhook endpoints may be reached: the same address policy as input URLs (blind SSRF).

A webhook endpoint is chosen by an API client, and the sender runs next to databases, cloud
metadata (169.254.169.254) and admin ports, so unless ``allow_private_webhooks`` is set it posts
to public addresses only (:func:`aceserve.fetch.is_public_address`).

Two checks:

- at create, :func:`check_endpoint_at_create` refuses an endpoint whose host *spells* a private
  address (``127.0.0.1``, ``[::1]``, ``127.1``, ``2130706433``, ``localhost``) without touching DNS,
  so the obvious mistake is a 400 rather than a dead delivery later;
- at send, :meth:`EndpointPolicy.resolve` resolves the host once and refuses it unless every
  address passes; the attempt then connects to those addresses only (the fetcher's pinned
  backend), so a DNS answer that changes between check and connect (rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

import httpx

from aceserve.domain.errors import InvalidInput
from aceserve.fetch.addresses import (
    AddressPolicy,
    IPAddress,
    Resolver,
    display_address,
    is_public_address,
    is_unicast_address,
    parse_address,
    resolve_with_getaddrinfo,
)

ENDPOINT_FIELD: Final = "config.webhook_config.endpoint"
_ALLOW_HINT: Final = "set ACESERVE_ALLOW_PRIVATE_WEBHOOKS=true to allow it"
# Hosts that inet_aton (and so getaddrinfo) reads as an IPv4 address: 127.1, 0x7f.1, 2130706433.
_NUMERIC_V4: Final = re.compile(r"[0-9A-Fa-fXx.]+")
_ERRNO_PREFIX: Final = re.compile(r"^\[Errno -?\d+\]\s*")
_HOST_NAME: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*")


class EndpointRefused(Exception):
    """The endpoint can never be posted to as configured (bad URL, non-public address): give up."""


class EndpointUnresolved(Exception):
    """The endpoint's host name did not resolve this time (DNS trouble): try again later."""


@dataclass(frozen=True)
class Endpoint:
    url: httpx.URL
    host: str  # ASCII (IDNA) host without brackets: what the resolver and the pinned backend see
    port: int


def parse_endpoint(text: str) -> Endpoint:
    """The endpoint URL's parts, or :class:`EndpointRefused` ("invalid endpoint URL: ...")."""
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError) as exc:
        raise EndpointRefused(f"invalid endpoint URL: {exc}") from exc
    if url.scheme not in ("http", "https"):
        raise EndpointRefused(f"invalid endpoint URL: the scheme must be http or https, not {url.scheme!r}")
    try:
        host = normalize_host(url.raw_host.decode("ascii"))
    except UnicodeDecodeError as exc:
        raise EndpointRefused("invalid endpoint URL: the host is not ASCII after IDNA encoding") from exc
    port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise EndpointRefused(f"invalid endpoint URL: the port {port} is out of range")
    return Endpoint(url=url, host=host, port=port)


@dataclass(frozen=True)
class EndpointPolicy:
    """Where the sender may post. ``resolver`` and ``is_allowed_address`` exist for tests: a test maps
    a made-up name to a loopback receiver, and may let that one address count as public while every
    other address is judged by the real policy. ``is_allowed_address`` replaces the policy that
    ``allow_private`` picks (public addresses only, or any unicast address)."""

    allow_private: bool = False
    resolver: Resolver = resolve_with_getaddrinfo
    is_allowed_address: AddressPolicy | None = None

    def allows(self, address: IPAddress) -> bool:
        if self.is_allowed_address is not None:
            return self.is_allowed_address(address)
        return is_unicast_address(address) if self.allow_private else is_public_address(address)

    def resolve(self, endpoint: Endpoint) -> list[IPAddress]:
        """Resolve the endpoint's host once; every address must pass, or the endpoint is refused.

        Raises:
            EndpointUnresolved: the resolver failed (retryable).
            EndpointRefused: an address is not allowed (permanent: the same name keeps answering so).
        """
        literal = parse_address(endpoint.host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                answers: Sequence[str] = self.resolver(endpoint.host, endpoint.port)
            except (OSError, UnicodeError) as exc:
                raise EndpointUnresolved(f"endpoint host name does not resolve: {_reason(exc)}") from exc
            parsed = [parse_address(answer) for answer in answers]
            addresses = [address for address in parsed if address is not None]
            if not addresses or len(addresses) != len(parsed):
                raise EndpointUnresolved("endpoint host name does not resolve to IP addresses")
        for address in addresses:
            if not self.allows(address):
                raise EndpointRefused(self._refusal(address))
        return addresses

    def _refusal(self, address: IPAddress) -> str:
        if self.allow_private:
            return f"endpoint resolves to an address no receiver can listen on ({display_address(address)})"
        return f"endpoint resolves to a private address ({display_address(address)}); {_ALLOW_HINT}"


def normalize_host(raw: str) -> str:
    """The host as the resolver and the address check must see it: percent-encoding decoded, lower
    case, without the trailing dot of a fully qualified name (``127.0.0.1.`` is ``127.0.0.1``,
    ``%6Cocalhost`` is ``localhost``). A host that is no name or address after that is refused, so it
    is a 400 at create rather than a day of unresolvable retries."""
    host = unquote(raw).lower()
    if ":" in host:  # an IPv6 literal (brackets already removed)
        if parse_address(host) is None:
            raise EndpointRefused(f"invalid endpoint URL: {raw!r} is not an IPv6 address")
        return host
    host = host.rstrip(".")
    if not host:
        raise EndpointRefused("invalid endpoint URL: it has no host")
    if not _HOST_NAME.fullmatch(host):
        raise EndpointRefused(f"invalid endpoint URL: the host {raw!r} is not a host name or an IP address")
    return host


def check_endpoint_at_create(endpoint: str, *, allow_private: bool) -> None:
    """Refuse at create an endpoint whose host is a non-public IP literal or ``localhost``; no DNS.

    The host is normalized first (``normalize_host``): ``127.0.0.1.`` and ``127%2E0%2E0%2E1`` are
    ``127.0.0.1``, and a host that is no name or address after decoding is a 400 too. A host name
    that merely resolves to a private address passes here and is refused by the sender, which is the
    check that counts (it also sees rebinding). An empty endpoint passes.

    Raises:
        InvalidInput: on ``config.webhook_config.endpoint``, naming the address.
    """
    if not endpoint:
        return
    try:
        host = parse_endpoint(endpoint).host
    except EndpointRefused as exc:
        reason = str(exc).removeprefix("invalid endpoint URL: ")
        raise InvalidInput(ENDPOINT_FIELD, f"is not a usable URL: {reason}") from None
    if allow_private:
        return
    private = private_literal_host(host)
    if private is not None:
        raise InvalidInput(
            ENDPOINT_FIELD,
            f"points at a private address ({private}); webhooks go to public addresses only "
            "unless the server sets ACESERVE_ALLOW_PRIVATE_WEBHOOKS=true",
        )


def private_literal_host(host: str) -> str | None:
    """How to show ``host`` when it names a non-public address without DNS, else None.

    ``host`` is a URL's host without brackets. Counted: canonical IPv4 and IPv6 literals, the IPv4
    shorthands the system resolver expands (``127.1``, ``0x7f.1``, ``2130706433``), and ``localhost``
    with its subdomains (RFC 6761: they are always loopback).
    """
    name = host.lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "localhost"
    address = literal_address(host)
    if address is None or is_public_address(address):
        return None
    return display_address(address)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells as a literal, shorthand IPv4 forms included; None for a name."""
    address = parse_address(host)
    if address is not None:
        return address
    if not _NUMERIC_V4.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _reason(exc: BaseException) -> str:
    text = _ERRNO_PREFIX.sub("", str(exc)).strip()
    return text or type(exc).__name__
