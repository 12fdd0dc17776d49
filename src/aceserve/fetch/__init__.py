"""SSRF-safe fetching of user-supplied input URLs: public addresses only, pinned, capped."""

from aceserve.fetch.addresses import (
    AddressPolicy,
    IPAddress,
    Resolver,
    is_public_address,
    is_unicast_address,
    resolve_with_getaddrinfo,
)
from aceserve.fetch.fetcher import FetchError, SafeFetcher

__all__ = [
    "AddressPolicy",
    "FetchError",
    "IPAddress",
    "Resolver",
    "SafeFetcher",
    "is_public_address",
    "is_unicast_address",
    "resolve_with_getaddrinfo",
]
