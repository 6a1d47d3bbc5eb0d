"""The poller's HMAC-MD5-96 / HMAC-SHA-96 (probes.snmp._Hmac96) give pysnmp's digests."""

from __future__ import annotations

import asyncio
import os

import pytest
from pyasn1.type import univ
from pysnmp.proto import errind, error
from pysnmp.proto.secmod.rfc3414.auth.hmacmd5 import HmacMd5
from pysnmp.proto.secmod.rfc3414.auth.hmacsha import HmacSha

from probes import snmp

PAIRS = [(snmp._HmacMd5(), HmacMd5(), 16), (snmp._HmacSha(), HmacSha(), 20)]


def _message(size: int) -> bytes:
    """Random bytes with the USM's placeholder of 12 zero bytes somewhere inside."""
    at = size // 3
    message = bytearray(os.urandom(size))
    message[at:at + 12] = bytes(12)
    return bytes(message)


@pytest.mark.parametrize("ours, pysnmps, key_size", PAIRS, ids=["md5", "sha"])
def test_outgoing_digest_is_pysnmps(ours, pysnmps, key_size):
    for size in (40, 120, 1400):
        key = univ.OctetString(os.urandom(key_size))
        message = _message(size)
        signed = ours.authenticate_outgoing_message(key, message)
        assert signed == pysnmps.authenticate_outgoing_message(key, message)
        assert signed != message and len(signed) == len(message)


@pytest.mark.parametrize("ours, pysnmps, key_size", PAIRS, ids=["md5", "sha"])
def test_incoming_digest_is_checked_as_pysnmp_does(ours, pysnmps, key_size):
    key = univ.OctetString(os.urandom(key_size))
    message = _message(300)
    signed = pysnmps.authenticate_outgoing_message(key, message)
    digest = univ.OctetString(signed[100:112])
    assert ours.authenticate_incoming_message(key, digest, signed) == message
    tampered = signed[:200] + bytes([signed[200] ^ 1]) + signed[201:]
    with pytest.raises(error.StatusInformation) as failed:
        ours.authenticate_incoming_message(key, digest, tampered)
    assert isinstance(failed.value["errorIndication"], errind.AuthenticationFailure)
    with pytest.raises(error.StatusInformation) as short:
        ours.authenticate_incoming_message(key, univ.OctetString(signed[100:111]), signed)
    assert isinstance(short.value["errorIndication"], errind.AuthenticationError)


def test_the_polling_engine_signs_with_them():
    async def services():
        usm = snmp.engine_for_loop().security_models[3]
        return usm.AUTH_SERVICES[HmacSha.SERVICE_ID], usm.AUTH_SERVICES[HmacMd5.SERVICE_ID]

    sha, md5 = asyncio.run(services())
    assert isinstance(sha, snmp._HmacSha) and isinstance(md5, snmp._HmacMd5)
