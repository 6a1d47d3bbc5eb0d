"""cmdb.addressing: canonical forms, keys, containment, next free, utilisation (pure)."""

import pytest

from cmdb import normalise
from cmdb.addressing import (
    AddressError,
    containing_network_keys,
    contains,
    first_free,
    key_of,
    next_free,
    parse_address,
    parse_address_or_prefix,
    parse_prefix,
    utilisation,
)


def test_address_canonical_form_and_mask():
    a = parse_address(" 10.0.0.5/24 ")
    assert (a.address, a.family, a.prefix_len) == ("10.0.0.5", 4, 24)
    assert a.key == key_of(0x0A000005) and len(a.key) == 32
    b = parse_address("2001:DB8:0:0::1")
    assert (b.address, b.family, b.prefix_len) == ("2001:db8::1", 6, None)


@pytest.mark.parametrize("bad", ["", "10.0.0", "10.0.0.256", "010.0.0.1", "10.0.0.1/33", "foo", "::g", 5])
def test_invalid_addresses_raise(bad):
    with pytest.raises(AddressError):
        parse_address(bad)


def test_keys_sort_like_numbers_across_widths():
    keys = [parse_address(x).key for x in ("9.255.255.255", "10.0.0.0", "10.0.0.10", "10.0.1.0")]
    assert keys == sorted(keys)


def test_prefix_is_canonical_and_rejects_host_bits():
    p = parse_prefix("10.1.2.0/24")
    assert (p.prefix, p.family, p.prefix_len, p.size) == ("10.1.2.0/24", 4, 24, 256)
    assert parse_prefix("2001:0db8::/32").prefix == "2001:db8::/32"
    with pytest.raises(AddressError, match="10.1.2.0/24"):
        parse_prefix("10.1.2.5/24")
    with pytest.raises(AddressError):
        parse_prefix("10.1.2.0")


def test_containment_and_candidate_network_keys():
    p = parse_prefix("10.1.2.0/24")
    assert contains(p, parse_address("10.1.2.200"))
    assert not contains(p, parse_address("10.1.3.1"))
    assert not contains(p, parse_address("::a01:201"))
    candidates = dict(containing_network_keys(parse_address("10.1.2.200")))
    assert len(candidates) == 33
    assert candidates[24] == p.first_key
    assert candidates[32] == parse_address("10.1.2.200").key
    assert candidates[0] == key_of(0)


def test_search_box_parsing():
    assert parse_address_or_prefix("10.0.0.0/8").prefix == "10.0.0.0/8"
    assert parse_address_or_prefix("10.0.0.7/8").address == "10.0.0.7"
    assert parse_address_or_prefix("acme") is None


def test_next_free_skips_network_broadcast_and_used():
    p = parse_prefix("192.0.2.0/29")  # .1 - .6 usable
    used = sorted(parse_address(f"192.0.2.{i}").value for i in (0, 1, 2, 4))
    assert next_free(p, used) == "192.0.2.3"
    used_all = sorted(parse_address(f"192.0.2.{i}").value for i in range(1, 7))
    assert next_free(p, used_all) is None
    assert next_free(parse_prefix("192.0.2.0/31"), []) == "192.0.2.0"
    assert next_free(parse_prefix("2001:db8::/64"), []) == "2001:db8::1"


def test_first_free_window():
    assert first_free(5, 10, [1, 5, 6, 8]) == 7
    assert first_free(5, 6, [5, 6, 7]) is None
    assert first_free(5, 6, []) == 5


def test_utilisation():
    assert utilisation(parse_prefix("10.0.0.0/30"), 1) == {"size": 2, "used": 1, "free": 1, "percent": 50.0}
    assert utilisation(parse_prefix("10.0.0.1/32"), 0)["size"] == 1


def test_phone_normalisation_matches_russian_trunk_prefix():
    assert normalise.phone("+7 (495) 123-45-67") == normalise.phone("84951234567") == "74951234567"
    assert normalise.phone("123-45-67") == "1234567"
    assert normalise.looks_like_phone("+7 (495) 123-45-67")
    assert not normalise.looks_like_phone("sw-core-1")


def test_text_and_serial_normalisation():
    assert normalise.text("  ACME   Holdings ") == "acme holdings"
    assert normalise.serial(" ab 12-C ") == "ab12-c"
    assert normalise.serial("  ") is None
    assert normalise.slug_code("Moscow DC 2") == "MOSCOW-DC-2"
