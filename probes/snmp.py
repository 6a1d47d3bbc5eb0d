"""The network edge: the only module that imports pysnmp.

- `SnmpPoller.get(target, oids)` -> probes.interpret.PollResult (never raises
  for network or agent trouble: timeouts, auth failures and error statuses
  become the result's status and message).
- `SnmpPoller.set(target, [(oid, int)])` -> PollResult: one SET request, sent
  once (no retries: a PDU outlet command is never repeated behind the caller's back).
- `open_trap_listener(host, port, callback)` -> a listener calling
  `callback(source_ip, {oid: plain value})` for each SNMPv1/v2c notification.

SNMPv1/v2c go through pysnmp's light v1arch dispatcher; SNMPv3 through the
v3arch SnmpEngine (USM). v3arch also works for v2c but configures a target
entry per device and scans that table for every reply (measured: 5 ms CPU per
poll at 100 devices, 21 ms at 400), while v1arch stays near 1 ms at any count.

SNMPv3 requests skip pysnmp's high-level API: its `get_cmd` resolves every OID
through the MIB view on the way out and back (a fifth of a v3 poll's CPU).
Requests go straight to the command generators with plain (OID, Null)
var-binds, addressed by the engine's target entry (user, parameters, address:
configured on first use, looked up in dicts afterwards). The engine caches each
agent's engine id and time window, so discovery happens once per agent.

One dispatcher and one SnmpEngine per event loop (a new engine costs ~200 ms
CPU; an engine from another loop silently times out), a bound on requests in
flight, and a raised SO_RCVBUF so bursts of replies are not dropped.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
import time
import weakref
from typing import Any, Callable, Sequence

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine as _LowEngine
from pysnmp.entity.rfc3413 import cmdgen as _cmdgen
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.hlapi.v3arch.asyncio import (
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    usm3DESEDEPrivProtocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD as _V3_LCD
from pysnmp.hlapi.v1arch.asyncio import CommunityData as V1CommunityData
from pysnmp.hlapi.v1arch.asyncio import SnmpDispatcher
from pysnmp.hlapi.v1arch.asyncio import UdpTransportTarget as V1UdpTransportTarget
from pysnmp.hlapi.v1arch.asyncio import bulk_cmd as v1_bulk_cmd
from pysnmp.hlapi.v1arch.asyncio import get_cmd as v1_get_cmd
from pysnmp.hlapi.v1arch.asyncio import set_cmd as v1_set_cmd
from pysnmp.proto import errind, error, rfc1902, rfc1905
from pysnmp.proto.secmod.rfc3414.auth.hmacmd5 import HmacMd5
from pysnmp.proto.secmod.rfc3414.auth.hmacsha import HmacSha

from probes.interpret import Missing, PollResult
from probes.profiles import SYS_UPTIME
from probes.wire import Target

log = logging.getLogger("rackcard.probes.snmp")

AUTH_PROTOCOLS = {
    None: usmNoAuthProtocol, "": usmNoAuthProtocol, "NONE": usmNoAuthProtocol,
    "MD5": usmHMACMD5AuthProtocol, "SHA": usmHMACSHAAuthProtocol, "SHA1": usmHMACSHAAuthProtocol,
    "SHA224": usmHMAC128SHA224AuthProtocol, "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA384": usmHMAC256SHA384AuthProtocol, "SHA512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    None: usmNoPrivProtocol, "": usmNoPrivProtocol, "NONE": usmNoPrivProtocol,
    "DES": usmDESPrivProtocol, "3DES": usm3DESEDEPrivProtocol,
    "AES": usmAesCfb128Protocol, "AES128": usmAesCfb128Protocol,
    "AES192": usmAesCfb192Protocol, "AES256": usmAesCfb256Protocol,
}
#: Error indications that mean "the agent answered, but our v3 credentials are wrong".
AUTH_ERRORS = (
    errind.WrongDigest, errind.UnknownUserName, errind.DecryptionError, errind.UnsupportedSecurityLevel,
    errind.AuthenticationFailure, errind.AuthenticationError, errind.UnknownSecurityName,
    errind.UnsupportedAuthProtocol, errind.UnsupportedPrivProtocol, errind.NotInTimeWindow,
)

RCVBUF_BYTES = 4 * 1024 * 1024
_V3_GET = _cmdgen.GetCommandGenerator()
_V3_BULK = _cmdgen.BulkCommandGenerator()
_V3_SET = _cmdgen.SetCommandGenerator()

_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


def _for_loop(kind: type):
    """The one `kind()` of the running event loop (made on first use)."""
    objects = _per_loop.setdefault(asyncio.get_running_loop(), {})
    if kind not in objects:
        objects[kind] = kind()
    return objects[kind]


class _NoExpiry(dict):
    """An expiry queue that holds nothing, so nothing expires (see _PollingEngine)."""

    def __contains__(self, key) -> bool:
        return True

    def __getitem__(self, key) -> list:
        return []  # what is queued goes nowhere

    def __delitem__(self, key) -> None:
        pass


_NO_DIGEST = bytes(12)


class _Hmac96:
    """RFC 3414's HMAC-MD5-96 and HMAC-SHA-96 through the hmac module.

    The digest is the RFC's (a 16- or 20-byte key padded with zeros to the
    block is what HMAC does); pysnmp's own services XOR the key with the pads
    byte by byte in Python for every message, as its SHA-2 services do not."""

    hash_name = ""

    def authenticate_outgoing_message(self, authKey, wholeMsg: bytes) -> bytes:
        at = wholeMsg.find(_NO_DIGEST)  # the USM leaves 12 zero bytes where the digest goes
        if at == -1:
            raise error.ProtocolError("cannot locate the digest placeholder")
        mac = hmac.digest(authKey.asOctets(), wholeMsg, self.hash_name)[:12]
        return wholeMsg[:at] + mac + wholeMsg[at + 12:]

    def authenticate_incoming_message(self, authKey, authParameters, wholeMsg: bytes) -> bytes:
        received = authParameters.asOctets()
        if len(received) != 12:
            raise error.StatusInformation(errorIndication=errind.authenticationError)
        at = wholeMsg.find(received)
        if at == -1:
            raise error.ProtocolError("cannot locate the digest in the message")
        authenticated = wholeMsg[:at] + _NO_DIGEST + wholeMsg[at + 12:]
        if not hmac.compare_digest(hmac.digest(authKey.asOctets(), authenticated, self.hash_name)[:12], received):
            raise error.StatusInformation(errorIndication=errind.authenticationFailure)
        return authenticated


class _HmacMd5(_Hmac96, HmacMd5):
    hash_name = "md5"


class _HmacSha(_Hmac96, HmacSha):
    hash_name = "sha1"


class _PollingEngine(SnmpEngine):
    """pysnmp's SnmpEngine, keeping what it learns about each agent.

    pysnmp forgets an agent's engine id 300 s after discovering it, and its time
    window 300 s after *each* reply (every reply queues a deletion), so a device
    polled every minute started nearly every poll after its fifth minute with
    one or two extra round trips (a report, then the request again). Here both
    stay; a rebooted agent still resynchronises (its notInTimeWindow report
    carries the new time), and a replaced one is rediscovered after a failed
    poll (`forget_agent`). Its USM computes HMAC-MD5/SHA-96 in C (`_Hmac96`)."""

    def __init__(self) -> None:
        super().__init__()
        mp = self.message_processing_subsystems.get(3)
        usm = self.security_models.get(3)
        if usm is not None:  # this engine's USM signs and checks with the C HMAC (see _Hmac96)
            usm.AUTH_SERVICES = {**usm.AUTH_SERVICES, HmacMd5.SERVICE_ID: _HmacMd5(), HmacSha.SERVICE_ID: _HmacSha()}
        for model, name in ((mp, "_SnmpV3MessageProcessingModel__engineIdCacheExpQueue"),
                            (usm, "_SnmpUSMSecurityModel__timelineExpQueue")):
            if model is not None and hasattr(model, name):
                setattr(model, name, _NoExpiry())
            else:  # a pysnmp that changed its internals: works, with the rediscoveries
                log.warning("pysnmp internals changed: SNMPv3 agents will be rediscovered every 5 minutes")

    def forget_agent(self, address: tuple) -> None:
        """Drop the cached engine id of the agent at `address` (it is discovered again)."""
        cache = getattr(self.message_processing_subsystems.get(3), "_SnmpV3MessageProcessingModel__engineIdCache", {})
        cache.pop((udp.DOMAIN_NAME, address), None)


def engine_for_loop() -> SnmpEngine:
    """The one SnmpEngine (SNMPv3) of the running event loop."""
    return _for_loop(_PollingEngine)


def dispatcher_for_loop() -> SnmpDispatcher:
    """The one v1/v2c dispatcher of the running event loop."""
    return _for_loop(SnmpDispatcher)


def default_poller() -> "SnmpPoller":
    """One poller with default settings per event loop, for one-off polls."""
    return _for_loop(SnmpPoller)


def plain(value: Any) -> Any:
    """A pysnmp value -> int | str | None | Missing (what probes.interpret reads)."""
    if isinstance(value, rfc1905.NoSuchInstance):
        return Missing("noSuchInstance")
    if isinstance(value, rfc1905.NoSuchObject):
        return Missing("noSuchObject")
    if isinstance(value, rfc1905.EndOfMibView):
        return Missing("endOfMibView")
    if isinstance(value, univ.Null):
        return None
    if isinstance(value, rfc1902.IpAddress):
        return value.prettyPrint()
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.OctetString):
        raw = bytes(value)
        try:
            text = raw.decode("utf-8")
            if text.isprintable() or all(ch.isprintable() or ch in "\r\n\t" for ch in text):
                return text
        except UnicodeDecodeError:
            pass
        return "0x" + raw.hex()
    return value.prettyPrint() if hasattr(value, "prettyPrint") else str(value)


def _auth(target: Target):
    if target.version == "3":
        auth_proto = AUTH_PROTOCOLS.get((target.v3_auth_protocol or "").upper())
        priv_proto = PRIV_PROTOCOLS.get((target.v3_priv_protocol or "").upper())
        if auth_proto is None or priv_proto is None:
            raise ValueError(
                f"unsupported SNMPv3 protocol: auth {target.v3_auth_protocol!r}, priv {target.v3_priv_protocol!r}"
            )
        return UsmUserData(
            target.v3_user or "",
            authKey=target.v3_auth_key or None,
            privKey=target.v3_priv_key or None,
            authProtocol=auth_proto if target.v3_auth_key else usmNoAuthProtocol,
            privProtocol=priv_proto if target.v3_priv_key else usmNoPrivProtocol,
        )
    return V1CommunityData(target.community or "public", mpModel=1 if target.version != "1" else 0)


class SnmpPoller:
    """GETs for many assets on one loop, at most `max_in_flight` at a time."""

    def __init__(self, timeout: float = 1.0, retries: int = 1, max_in_flight: int = 64, max_oids_per_request: int = 40):
        self.timeout = timeout
        self.retries = retries
        self.max_oids = max_oids_per_request
        self._slots = asyncio.Semaphore(max_in_flight)
        self._targets: dict[tuple, Any] = {}
        self._buffers_raised: set[int] = set()

    async def _transport(self, v3: bool, host: str, port: int):
        key = (v3, host, port)
        found = self._targets.get(key)
        if found is None:
            kind = UdpTransportTarget if v3 else V1UdpTransportTarget
            try:
                ipaddress.IPv4Address(host)
            except ValueError:  # a name (or IPv6): resolve it
                found = await kind.create((host, port), timeout=self.timeout, retries=self.retries)
            else:  # an IPv4 literal: skip getaddrinfo's round trip through a thread
                found = kind.__new__(kind)
                found.transport_address = (host, port)
                found.__init__(timeout=self.timeout, retries=self.retries)
            self._targets[key] = found
        return found

    def _raise_rcvbuf(self, owner) -> None:
        if id(owner) in self._buffers_raised:
            return
        try:
            transport = owner.transport_dispatcher.get_transport(udp.DOMAIN_NAME)
            sock = transport.transport.get_extra_info("socket") if transport and transport.transport else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
                self._buffers_raised.add(id(owner))
        except Exception:  # best effort: the default buffer still works at lower rates
            log.debug("could not raise SO_RCVBUF", exc_info=True)
            self._buffers_raised.add(id(owner))

    async def get(self, target: Target, oids: Sequence[str], walks: Sequence[str] = ()) -> PollResult:
        """GET `oids` (in requests of at most max_oids_per_request) from one asset,
        then walk the table columns `walks` with GETBULK (every row of each)."""
        v3 = target.version == "3"
        try:
            auth = _auth(target)
            transport = await self._transport(v3, target.host, target.port)
        except Exception as exc:  # bad settings: report, don't stop the loop
            return PollResult("error", message=f"cannot poll: {exc}")
        session = (target, v3, auth, transport)
        values: dict[str, Any] = {}
        started = time.perf_counter()
        chunks = [list(oids[i:i + self.max_oids]) for i in range(0, len(oids), self.max_oids)]
        if not chunks and not walks:
            chunks = [[SYS_UPTIME]]
        for chunk in chunks:
            answer = await self._request(session, chunk, started)
            if isinstance(answer, PollResult):
                return answer
            for oid, value in answer:
                values[str(oid)] = plain(value)
        if walks:
            walked = await self._walk(session, list(walks), started)
            if isinstance(walked, PollResult):
                return walked
            values.update(walked)
        return PollResult("ok", values=values, elapsed_ms=_ms(started))

    async def set(self, target: Target, values: Sequence[tuple[str, int]]) -> PollResult:
        """SET integer `values` in one request, sent once; ok = the agent accepted all of them."""
        once = SnmpPoller(self.timeout, retries=0)  # its own transport, without retries
        v3 = target.version == "3"
        started = time.perf_counter()
        try:
            auth = _auth(target)
            transport = await once._transport(v3, target.host, target.port)
        except Exception as exc:  # bad settings: report, don't raise
            return PollResult("error", message=f"cannot write: {exc}")
        answer = await once._request((target, v3, auth, transport), [oid for oid, _ in values], started,
                                     writes=[v for _, v in values])
        if isinstance(answer, PollResult):
            return answer
        return PollResult("ok", values={str(oid): plain(value) for oid, value in answer}, elapsed_ms=_ms(started))

    async def walk(self, target: Target, columns: Sequence[str]) -> PollResult:
        """Every row of each table column (GETBULK; SNMPv2c and v3)."""
        return await self.get(target, (), columns)

    async def _walk(self, session, columns: list[str], started: float, repetitions: int = 25):
        found: dict[str, Any] = {}
        cursor = {column: column for column in columns}  # column -> last OID read
        while cursor:
            pending = list(cursor)
            answer = await self._request(session, [cursor[c] for c in pending], started, bulk=repetitions)
            if isinstance(answer, PollResult):
                return answer
            answer = list(answer)
            done = set()
            for i, column in enumerate(pending):
                prefix = column + "."
                rows = answer[i::len(pending)]
                if not rows:
                    done.add(column)
                for oid, value in rows:
                    oid = str(oid)
                    if isinstance(value, rfc1905.EndOfMibView) or not oid.startswith(prefix) or oid in found:
                        done.add(column)
                        break
                    found[oid] = plain(value)
                    cursor[column] = oid
            for column in done:
                cursor.pop(column, None)
            if len(found) > 100_000:  # a looping agent: stop rather than walk forever
                break
        return found

    async def _request(self, session, oids: list[str], started: float, bulk: int = 0, writes: list[int] | None = None):
        """One GET (GETBULK with `bulk` repetitions, SET of integers with `writes`):
        the var-binds, or a PollResult saying why not."""
        target, v3, auth, transport = session
        tries = self.retries + 1
        owner = engine_for_loop() if v3 else dispatcher_for_loop()
        async with self._slots:
            try:
                binds = [(rfc1902.ObjectName(oid), univ.Null("")) for oid in oids]
                if v3:
                    if writes is not None:
                        binds = [(rfc1902.ObjectName(oid), rfc1902.Integer32(v)) for oid, v in zip(oids, writes)]
                    reply = await self._v3_request(owner, target, auth, transport, binds, bulk, write=writes is not None)
                else:
                    if writes is not None:
                        binds = [(rfc1902.ObjectName(oid), rfc1902.Integer32(v)) for oid, v in zip(oids, writes)]
                        reply = await v1_set_cmd(owner, auth, transport, *binds, lookupMib=False)
                    elif bulk:
                        reply = await v1_bulk_cmd(owner, auth, transport, 0, bulk, *binds, lookupMib=False)
                    else:
                        reply = await v1_get_cmd(owner, auth, transport, *binds, lookupMib=False)
            except Exception as exc:
                return PollResult("error", message=f"SNMP error: {exc}", elapsed_ms=_ms(started))
            finally:
                self._raise_rcvbuf(owner)
        error_indication, error_status, error_index, var_binds = reply
        if error_indication and v3 and not isinstance(error_indication, errind.RequestTimedOut):
            owner.forget_agent(tuple(transport.transport_address))  # a replaced agent: rediscover it next time
        if error_indication:
            if isinstance(error_indication, errind.RequestTimedOut):
                return PollResult(
                    "timeout",
                    message=f"no SNMP answer from {target.host}:{target.port} after {tries} "
                    f"tr{'y' if tries == 1 else 'ies'} of {self.timeout:g} s"
                    + (" (or wrong community)" if target.version != "3" else ""),
                    elapsed_ms=_ms(started), tries=tries,
                )
            if isinstance(error_indication, AUTH_ERRORS):
                return PollResult(
                    "auth",
                    message=f"SNMPv3 authentication failed for user {target.v3_user!r}: {error_indication} "
                    "(check the user, auth and privacy keys and protocols)",
                    elapsed_ms=_ms(started),
                )
            return PollResult("error", message=f"SNMP error: {error_indication}", elapsed_ms=_ms(started))
        if error_status:
            at = ""
            if error_index and int(error_index) <= len(oids):
                at = f" at {oids[int(error_index) - 1]}"
            return PollResult("error", message=f"agent error: {error_status.prettyPrint()}{at}", elapsed_ms=_ms(started))
        return var_binds


    async def _v3_request(self, engine: SnmpEngine, target: Target, auth, transport, binds: list, bulk: int,
                          write: bool = False):
        """One SNMPv3 GET/GETBULK (SET with `write`) through the engine's command generators:
        (error indication, error status, error index, [(OID, value)])."""
        context = (target.v3_context or "").encode()
        # LCD.configure adds the user, parameters and address entries on first use and
        # only looks them up afterwards; the address entry's name is what requests use.
        addr_name, _ = _V3_LCD.configure(engine, auth, transport, context)
        future = asyncio.get_running_loop().create_future()

        def done(_engine, _handle, error_indication, error_status, error_index, var_binds, _ctx):
            if not future.done():
                future.set_result((error_indication, error_status, error_index, var_binds))

        if write:
            _V3_SET.send_varbinds(engine, addr_name, None, context, binds, done)
        elif bulk:
            _V3_BULK.send_varbinds(engine, addr_name, None, context, 0, bulk, binds, done)
        else:
            _V3_GET.send_varbinds(engine, addr_name, None, context, binds, done)
        return await future


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


# ------------------------------------------------------------------ traps


class TrapListener:
    def __init__(self, engine: _LowEngine, transport):
        self._engine = engine
        self._transport = transport

    @property
    def port(self) -> int:
        sock = self._transport.transport.get_extra_info("socket") if self._transport.transport else None
        return sock.getsockname()[1] if sock else 0

    def close(self) -> None:
        try:
            self._engine.transport_dispatcher.job_finished(1)
            self._engine.close_dispatcher()
        except Exception:  # pragma: no cover - closing is best effort
            log.debug("closing the trap listener", exc_info=True)


async def open_trap_listener(
    host: str, port: int, callback: Callable[[str, dict[str, Any]], None], communities: Sequence[str] = ("public",)
) -> TrapListener:
    """Listen for SNMPv1/v2c notifications; v1 traps arrive translated to v2 form.

    `communities`: accepted community strings (a wrong one is dropped by pysnmp).
    """
    engine = _LowEngine()
    transport = udp.UdpTransport().open_server_mode((host, port))
    config.add_transport(engine, udp.DOMAIN_NAME, transport)
    for i, community in enumerate(dict.fromkeys(communities)):
        config.add_v1_system(engine, f"trap-area-{i}", community)

    def on_notification(snmp_engine, state_reference, context_engine_id, context_name, var_binds, cb_ctx):
        try:
            ctx = snmp_engine.observer.get_execution_context("rfc3412.receiveMessage:request")
            source = ctx["transportAddress"][0]
        except Exception:  # the trap is still handled; only its sender is unknown
            log.debug("no sender address for a notification", exc_info=True)
            source = "?"
        try:
            callback(source, {str(oid): plain(value) for oid, value in var_binds})
        except Exception:  # a bad trap must never stop the receiver
            log.exception("trap handling failed (from %s)", source)

    ntfrcv.NotificationReceiver(engine, on_notification)
    engine.transport_dispatcher.job_started(1)
    if transport._lport is not None:  # wait until the socket is bound, so a bind error surfaces here
        await transport._lport
    return TrapListener(engine, transport)
