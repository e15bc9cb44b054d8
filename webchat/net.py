"""Who is on the other end of a request: the peer, or the client a trusted proxy names."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # IPv4 addresses written as IPv6


@cache
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress._BaseNetwork, ...]:
    """The networks of TRUSTED_PROXIES; one written as IPv6-mapped IPv4 ("::ffff:127.0.0.1")
    as IPv4, as the addresses it is compared with are."""
    networks = []
    for proxy in proxies:
        network = ipaddress.ip_network(proxy, strict=False)
        if network.version == 6 and network.subnet_of(MAPPED):
            ipv4 = network.network_address.ipv4_mapped
            network = ipaddress.ip_network(f"{ipv4}/{network.prefixlen - 96}")
        networks.append(network)
    return tuple(networks)


def _address(text: str) -> Address | None:
    """The address `text` spells; an IPv4 one written as IPv6 (a dual-stack socket's
    "::ffff:192.0.2.7") as itself, so that it is trusted, and counted, as IPv4."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address: Address | None) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    return address is not None and any(address in network for network in networks)


def client_address(meta: dict) -> str:
    """The client's address. X-Forwarded-For is read only when the peer is a trusted proxy,
    and then from the right: the first address no trusted proxy vouches for is the client.
    Anything to its left was written by the client and could be anything."""
    peer = meta.get("REMOTE_ADDR") or ""
    address = _address(peer)
    peer = str(address) if address else peer
    if not _trusted(address):
        return peer
    hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # a hop that is not an address: nothing further left can be believed
        if not _trusted(address):
            return str(address)
    return peer
