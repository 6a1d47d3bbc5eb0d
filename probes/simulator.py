"""Simulated SNMP agents (snmpsim) for the tests and `rackcard demo`.

One snmpsim process serves many devices: the SNMP community (or SNMPv3
context name) selects the `.snmprec` recording. Recordings are rewritten at
run time to change what a device reports; snmpsim re-reads a file when its
whole-second mtime changes, so every write moves the mtime forward by at least
one second.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterable, Sequence

log = logging.getLogger("rackcard.probes.simulator")

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"


#: When the simulated devices "booted" (Unix time): their sysUpTime counts from it on
#: the wall clock, so restarting the simulator (or the demo) is not a device restart.
SIM_BOOTED_AT = 1_780_000_000


def _uptime_line(uptime_ticks: int | None) -> str:
    if uptime_ticks is None:  # a live counter on the wall clock (snmpsim's numeric variation, absolute time)
        return f"{SYS_UPTIME}|67:numeric|rate=100,atime=1,wrap=1,initial={-100 * SIM_BOOTED_AT}"
    return f"{SYS_UPTIME}|67|{uptime_ticks}"


def interfaces_lines(ports: dict[int, tuple[str, int, int]]) -> list[str]:
    """ports: ifIndex -> (ifDescr, ifAdminStatus, ifOperStatus)."""
    lines = []
    for column, pick in ((1, None), (2, 0), (3, "type"), (7, 1), (8, 2)):
        for if_index, port in sorted(ports.items()):
            oid = f"1.3.6.1.2.1.2.2.1.{column}.{if_index}"
            if column == 1:
                lines.append(f"{oid}|2|{if_index}")
            elif column == 2:
                lines.append(f"{oid}|4|{port[0]}")
            elif column == 3:
                lines.append(f"{oid}|2|6")
            else:
                lines.append(f"{oid}|2|{port[pick]}")
    return lines


def media_converter_rec(
    name: str = "mc", ports: dict[int, tuple[str, int, int]] | None = None, uptime_ticks: int | None = 500000
) -> str:
    """A media converter in the style of a Planet chassis slot: copper + fiber port."""
    ports = ports if ports is not None else {1: ("slot_1_tp", 1, 1), 2: ("slot_1_fx", 1, 1)}
    lines = [
        f"{SYS_DESCR}|4|Planet MC-1610MR media converter chassis",
        f"{SYS_OBJECT_ID}|6|1.3.6.1.4.1.10456.2.625",
        _uptime_line(uptime_ticks),
        f"{SYS_NAME}|4|{name}",
        *interfaces_lines(ports),
    ]
    return _sorted(lines)


def ups_rec(
    name: str = "ups", source: int = 3, battery: int = 2, minutes: int = 45, voltage: int = 230,
    uptime_ticks: int | None = 500000,
) -> str:
    """An RFC 1628 UPS: upsOutputSource 3 normal / 5 battery, upsBatteryStatus 2 normal / 3 low."""
    lines = [
        f"{SYS_DESCR}|4|Simulated UPS (RFC 1628)",
        f"{SYS_OBJECT_ID}|6|1.3.6.1.2.1.33",
        _uptime_line(uptime_ticks),
        f"{SYS_NAME}|4|{name}",
        f"1.3.6.1.2.1.33.1.2.1.0|2|{battery}",
        f"1.3.6.1.2.1.33.1.2.3.0|2|{minutes}",
        "1.3.6.1.2.1.33.1.3.3.1.3.1|2|" + str(voltage),
        f"1.3.6.1.2.1.33.1.4.1.0|2|{source}",
        "1.3.6.1.2.1.33.1.4.4.1.5.1|2|35",
    ]
    return _sorted(lines)


def generic_rec(name: str = "device", ports: dict[int, tuple[str, int, int]] | None = None, uptime_ticks: int | None = 500000) -> str:
    ports = ports if ports is not None else {1: ("uplink", 1, 1)}
    lines = [f"{SYS_DESCR}|4|Simulated device", _uptime_line(uptime_ticks), f"{SYS_NAME}|4|{name}", *interfaces_lines(ports)]
    return _sorted(lines)


def _sorted(lines: Iterable[str]) -> str:
    def key(line: str):
        return tuple(int(p) for p in line.split("|", 1)[0].split("."))

    return "\n".join(sorted(lines, key=key)) + "\n"


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class V3User:
    user: str
    auth_key: str
    priv_key: str
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"


class SimAgent:
    """One snmpsim-command-responder process on a loopback port."""

    def __init__(self, root: str | Path | None = None, host: str = "127.0.0.1", port: int | None = None,
                 v3: V3User | None = None, extra_hosts: Sequence[str] = ()):
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="rackcard-snmpsim-"))
        self.data_dir = self.root / "data"
        self.cache_dir = self.root / "cache"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_udp_port(host)
        # more loopback addresses served on the same port (a device per address; data still by community)
        self.extra_hosts = tuple(h for h in dict.fromkeys(extra_hosts) if h != host)
        self.v3 = v3
        self.process: subprocess.Popen | None = None
        self.log_path = self.root / "snmpsim.log"

    # -- recordings
    def write(self, community: str, text: str) -> None:
        """Write a recording (selected by community) and move its mtime on by >= 1 s."""
        path = self.data_dir / f"{community}.snmprec"
        old = path.stat().st_mtime if path.exists() else 0.0
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        stamp = max(float(int(old) + 1), time.time())
        os.utime(path, (stamp, stamp))

    # -- process
    def command(self) -> list[str]:
        exe = shutil.which("snmpsim-command-responder") or str(Path(sys.executable).parent / "snmpsim-command-responder")
        cmd = [exe, f"--cache-dir={self.cache_dir}", "--v3-engine-id=auto", f"--data-dir={self.data_dir}"]
        if self.v3:
            cmd += [
                f"--v3-user={self.v3.user}", f"--v3-auth-key={self.v3.auth_key}",
                f"--v3-auth-proto={self.v3.auth_protocol}", f"--v3-priv-key={self.v3.priv_key}",
                f"--v3-priv-proto={self.v3.priv_protocol}",
            ]
        cmd.append(f"--agent-udpv4-endpoint={self.host}:{self.port}")
        cmd += [f"--agent-udpv4-endpoint={h}:{self.port}" for h in self.extra_hosts]
        return cmd

    def start(self, ready_timeout: float = 20.0) -> "SimAgent":
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + ready_timeout
        # every endpoint, not only the first: they open one after the other
        markers = [f"Listening at UDP/IPv4 endpoint {h}:{self.port}" for h in (self.host, *self.extra_hosts)]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"snmpsim exited: {self.log_path.read_text()[-2000:]}")
            text = self.log_path.read_text(errors="replace")
            if all(m in text for m in markers):
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"snmpsim did not start in {ready_timeout} s: {self.log_path.read_text()[-2000:]}")
        # snmpsim drops what arrives in its first moments after "Listening": wait until each endpoint answers
        communities = sorted(p.stem for p in self.data_dir.glob("*.snmprec"))
        pending = [h for h in (self.host, *self.extra_hosts)] if communities else []
        while pending and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"snmpsim exited: {self.log_path.read_text()[-2000:]}")
            pending = [h for h in pending if not _answers(h, self.port, communities[0])]
        if not pending:
            return self
        self.stop()
        raise RuntimeError(f"snmpsim did not start in {ready_timeout} s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _answers(host: str, port: int, community: str, timeout: float = 0.2) -> bool:
    """Does an SNMPv2c GET of sysUpTime.0 get any answer? (hand-encoded: no pysnmp here)."""

    def tlv(tag: int, body: bytes) -> bytes:
        return bytes([tag, len(body)]) + body

    varbind = tlv(0x30, tlv(0x06, bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])) + b"\x05\x00")
    pdu = tlv(0xA0, tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, varbind))
    packet = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, community.encode()[:60]) + pdu)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (host, port))
            sock.recvfrom(4096)
            return True
        except OSError:
            return False


@dataclass(frozen=True)
class SimDevice:
    """A simulated device for the demo: its community, kind and interfaces (ifIndex, role, name)."""

    community: str
    kind: str
    interfaces: Sequence[tuple[int, str, str]] = ()


def recording_for(device: SimDevice) -> str:
    ports = {}
    for if_index, role, name in device.interfaces:
        label = name or (f"slot_1_fx" if role == "fiber" else f"slot_1_tp" if role == "copper" else f"port{if_index}")
        ports[if_index] = (label, 1, 1)
    if device.kind == "ups":
        return ups_rec(device.community, uptime_ticks=None)
    if device.kind == "media_converter":
        return media_converter_rec(device.community, ports or None, uptime_ticks=None)
    return generic_rec(device.community, ports or None, uptime_ticks=None)


@asynccontextmanager
async def demo_agents(devices: Sequence[SimDevice], port: int, host: str = "127.0.0.1",
                      root: str | Path | None = None, hosts: Sequence[str] = ()) -> AsyncIterator[SimAgent | None]:
    """Serve one recording per device (community = the device's) from one snmpsim
    process, listening on `host` and every address of `hosts` (a device each)."""
    if not devices:
        yield None
        return
    agent = SimAgent(root=root, host=host, port=port, extra_hosts=hosts)
    for device in devices:
        agent.write(device.community, recording_for(device))
    try:
        await asyncio.to_thread(agent.start)
    except Exception as exc:  # the demo still works without live states
        log.warning("simulated SNMP agents not started: %s", exc)
        agent.close()
        yield None
        return
    log.info("simulated SNMP agents for %d devices on %s:%d", len(devices), host, port)
    try:
        yield agent
    finally:
        await asyncio.to_thread(agent.close)
