"""Where a service may connect on a URL it was given: public addresses only, unless allowed.

A URL from a client (a chat webhook) or from settings (the SMS provider) must not reach the
bureau's own network: every address its host resolves to is checked, and a private,
loopback, link-local, reserved, multicast or unspecified one refuses the URL before any
connection is made. The request then goes to the address that was checked, with the host
name kept for the Host header and TLS (SNI and certificate), so a second DNS answer cannot
swap in another address. `OutboundPolicy` lists the hosts and networks allowed anyway (a
local SMS stand-in, a chat server on the office network).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}


class OutboundRefused(Exception):
    """The URL leads somewhere this service may not connect to."""


def internal(address: Address) -> bool:
    """Whether an address belongs to a private, local or special-purpose network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


@dataclass(frozen=True)
class OutboundPolicy:
    """Public addresses, and the hosts and networks allowed besides them."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = field(default=())

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OutboundPolicy:
        """From host names and networks (`sms.local`, `10.0.0.0/8`, `127.0.0.1`)."""
        hosts, networks = set(), []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def permits(self, host: str, address: Address) -> bool:
        """Whether a connection to `address`, found for `host`, is allowed."""
        if host.lower().rstrip(".") in self.hosts:
            return True
        return not internal(address) or any(address in net for net in self.networks)


async def resolve(host: str, port: int) -> list[Address]:
    """Every address the host name stands for (the host itself when it is an address)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: not a name (an empty label ...)
        raise OutboundRefused(f"{host} cannot be resolved: {exc}") from exc
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))


async def checked_address(url: httpx.URL, policy: OutboundPolicy) -> Address:
    """The address to connect to for a URL, once every address of its host was checked."""
    if url.scheme not in DEFAULT_PORTS or not url.host:
        raise OutboundRefused("only http and https URLs with a host are allowed")
    addresses = await resolve(url.host, url.port or DEFAULT_PORTS[url.scheme])
    refused = [a for a in addresses if not policy.permits(url.host, a)]
    if refused:
        raise OutboundRefused(f"{url.host} leads to an address that is not allowed ({refused[0]})")
    if not addresses:
        raise OutboundRefused(f"{url.host} has no address")
    return addresses[0]


async def pinned_request(url: str, policy: OutboundPolicy) -> tuple[httpx.URL, dict[str, object]]:
    """The URL with its host replaced by the checked address, and the request's extensions.

    Send it with the original host as the Host header; the TLS handshake names and verifies
    the original host through the `sni_hostname` extension.
    """
    original = httpx.URL(url)
    address = await checked_address(original, policy)
    return original.copy_with(host=str(address)), {"sni_hostname": original.host}


async def post_pinned(
    client: httpx.AsyncClient,
    url: str,
    policy: OutboundPolicy,
    *,
    json: object,
    headers: Mapping[str, str],
) -> httpx.Response:
    """POST JSON to a URL at its checked address (OutboundRefused before connecting otherwise)."""
    target, extensions = await pinned_request(url, policy)
    host = {"Host": httpx.URL(url).netloc.decode()}
    return await client.post(target, json=json, headers={**headers, **host}, extensions=extensions)
