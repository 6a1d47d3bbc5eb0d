"""IP addressing, pure: parsing into canonical form, fixed-width keys, containment,
next free address and utilisation. netaddr does all parsing and math; nothing
here touches the database.

Keys: every address is stored as a 32-character lower-case hex string of its
integer value (IPv4 too, zero-padded), next to its family. Fixed width makes
text order equal numeric order, so "which addresses lie in this prefix" and
"which prefixes contain this address" are plain B-tree range/point lookups on
SQLite and PostgreSQL alike (see cmdb/tables.py `ip_key`, `first_key`, `last_key`).

Usable addresses (for next-free and utilisation):
- IPv4 shorter than /31: the network and broadcast addresses are skipped;
  /31 and /32 use every address (RFC 3021).
- IPv6 shorter than /127: the first address (the subnet-router anycast
  address) is skipped; /127 and /128 use every address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import netaddr

KEY_WIDTH = 32
MAX_BITS = {4: 32, 6: 128}


class AddressError(ValueError):
    """An address or prefix that cannot be parsed (or has host bits set)."""


def key_of(value: int) -> str:
    return format(value, f"0{KEY_WIDTH}x")


def int_of(key: str) -> int:
    return int(key, 16)


@dataclass(frozen=True)
class Address:
    address: str  # canonical text, no mask
    family: int  # 4 | 6
    key: str
    prefix_len: int | None  # the mask given with it ("10.0.0.5/24" -> 24), if any

    @property
    def value(self) -> int:
        return int_of(self.key)


@dataclass(frozen=True)
class Prefix:
    prefix: str  # canonical CIDR
    family: int
    prefix_len: int
    first_key: str
    last_key: str

    @property
    def first(self) -> int:
        return int_of(self.first_key)

    @property
    def last(self) -> int:
        return int_of(self.last_key)

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise AddressError("expected text such as 10.0.0.5 or 2001:db8::1")
    text = value.strip()
    if not text:
        raise AddressError("empty address")
    return text


def _ip(text: str) -> netaddr.IPAddress:
    # INET_PTON: no legacy forms such as "10.1" or "010.0.0.1" (octal) that
    # a person almost never means.
    try:
        return netaddr.IPAddress(text, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise AddressError(f"{text!r} is not an IPv4 or IPv6 address") from None


def _unmapped(ip: netaddr.IPAddress, length: int | None, text: str) -> tuple[netaddr.IPAddress, int | None]:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.5) is the IPv4 address it
    carries: stored as such, so it cannot sit beside 10.0.0.5 as another row."""
    if ip.version != 6 or not ip.is_ipv4_mapped():
        return ip, length
    if length is not None and length < 96:
        raise AddressError(f"{text!r}: an IPv4-mapped address needs a mask of 96 to 128")
    return ip.ipv4(), None if length is None else length - 96


def parse_address(value: object) -> Address:
    """'10.0.0.5' or '10.0.0.5/24' (mask kept as prefix_len) -> canonical Address;
    '::ffff:10.0.0.5' is 10.0.0.5."""
    text = _text(value)
    addr_text, slash, mask = text.partition("/")
    ip = _ip(addr_text.strip())
    prefix_len = None
    if slash:
        prefix_len = _mask_length(mask, ip.version, text)
    ip, prefix_len = _unmapped(ip, prefix_len, text)
    return Address(address=str(ip), family=ip.version, key=key_of(int(ip)), prefix_len=prefix_len)


def _mask_length(mask: str, family: int, text: str) -> int:
    mask = mask.strip()
    # ASCII digits only: "²".isdigit() is True but int("²") fails.
    if not (mask.isascii() and mask.isdigit()) or len(mask) > 3 or not 0 <= int(mask) <= MAX_BITS[family]:
        raise AddressError(f"{text!r}: the mask must be a number from 0 to {MAX_BITS[family]}")
    return int(mask)


def parse_prefix(value: object) -> Prefix:
    """A CIDR prefix in canonical form. Host bits set is an error (naming the
    network meant), not silently changed: '10.0.0.5/24' is more often a typo
    for an address than a way to write 10.0.0.0/24."""
    text = _text(value)
    addr_text, slash, mask = text.partition("/")
    if not slash:
        raise AddressError(f"{text!r} has no mask: write it as CIDR, e.g. 10.0.0.0/24")
    ip = _ip(addr_text.strip())
    ip, length = _unmapped(ip, _mask_length(mask, ip.version, text), text)
    net = netaddr.IPNetwork(f"{ip}/{length}")
    if net.ip != net.network:
        raise AddressError(f"{text!r} has host bits set; the network is {net.cidr}")
    return Prefix(
        prefix=str(net.cidr),
        family=net.version,
        prefix_len=length,
        first_key=key_of(int(net.first)),
        last_key=key_of(int(net.last)),
    )


def parse_address_or_prefix(value: object) -> Address | Prefix | None:
    """For a search box: an address, a prefix (host bits clear), or None."""
    try:
        return parse_address(value) if "/" not in str(value) else parse_prefix(value)
    except AddressError:
        try:
            return parse_address(value)
        except AddressError:
            return None


def contains(prefix: Prefix, address: Address) -> bool:
    return prefix.family == address.family and prefix.first <= address.value <= prefix.last


def containing_network_keys(address: Address) -> list[tuple[int, str]]:
    """(prefix_len, first_key) of every prefix that could contain `address`,
    most specific first. Looking these up is a handful of point lookups on the
    (family, first_key) index instead of a range scan over all prefixes."""
    bits = MAX_BITS[address.family]
    value = address.value
    out = []
    for length in range(bits, -1, -1):
        host_bits = bits - length
        out.append((length, key_of((value >> host_bits) << host_bits)))
    return out


def usable_range(prefix: Prefix) -> tuple[int, int]:
    """First and last usable address values (see the module docstring)."""
    first, last = prefix.first, prefix.last
    if prefix.family == 4 and prefix.prefix_len < 31:
        return first + 1, last - 1
    if prefix.family == 6 and prefix.prefix_len < 127:
        return first + 1, last
    return first, last


def usable_size(prefix: Prefix) -> int:
    first, last = usable_range(prefix)
    return max(0, last - first + 1)


def text_of(value: int, family: int) -> str:
    return str(netaddr.IPAddress(value, version=family))


def first_free(start: int, end: int, used_sorted: Iterable[int]) -> int | None:
    """The lowest value in [start, end] not in `used_sorted` (ascending, may
    hold values outside the range), or None when the range is full."""
    candidate = start
    for used in used_sorted:
        if used < candidate:
            continue
        if used > candidate:
            break
        candidate += 1
        if candidate > end:
            return None
    return candidate if candidate <= end else None


def next_free(prefix: Prefix, used_sorted: Iterable[int]) -> str | None:
    start, end = usable_range(prefix)
    value = first_free(start, end, used_sorted)
    return None if value is None else text_of(value, prefix.family)


def utilisation(prefix: Prefix, used: int) -> dict:
    """used: how many recorded addresses lie inside the prefix."""
    size = usable_size(prefix)
    percent = round(100.0 * used / size, 2) if size else 100.0
    return {"size": size, "used": used, "free": max(0, size - used), "percent": min(percent, 100.0)}



#: Cloud metadata services answer on these (AWS/GCP/Azure/OpenStack, Alibaba, Oracle).
METADATA_ADDRESSES = ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")


def internal_host(host: str) -> str | None:
    """Why `host` (a name or a literal address) is the server's own or its
    host itself — loopback, link-local, unspecified or a metadata service
    — or None. Names other than localhost are judged by the address they
    resolve to, when the request is sent."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback address"
    try:
        ip = netaddr.IPAddress(name, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None
    if ip.version == 6 and ip.is_ipv4_mapped():
        ip = ip.ipv4()
    if str(ip) in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback():
        return "a loopback address"
    if ip.is_link_local():
        return "a link-local address"
    if int(ip) == 0 or str(ip) == "0.0.0.0":
        return "an unspecified address"
    return None
