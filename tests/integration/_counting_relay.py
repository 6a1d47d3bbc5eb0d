"""Counting at the agent's door: a UDP relay in front of a real SNMP agent
(snmpsim) that records every request it passes on — when, for which device
(the community selects snmpsim's recording), which request id, and from which
source port — so a test counts polls on the agent side. Runs on a thread of
its own, so a busy test event loop does not skew the times it records.

`udp_ports_of(pid)` names a process's UDP ports (from /proc), to tell which
worker process sent a request."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from procfs import socket_inodes

GET_PDU = 0xA0


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic()
    community: str
    request_id: int
    pdu: int  # 0xa0 get, 0xa1 next, 0xa5 bulk ...
    source: tuple[str, int]


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the BER element at i."""
    tag, length = data[i], data[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[i:i + n], "big")
        i += n
    return tag, i, i + length


def parse_request(data: bytes) -> tuple[str, int, int] | None:
    """(community, pdu tag, request id) of an SNMPv1/v2c message (request or response); None if it is not one."""
    try:
        _, i, _ = _tlv(data, 0)  # Message SEQUENCE
        _, s, e = _tlv(data, i)  # version
        tag, s, e = _tlv(data, e)  # community
        if tag != 0x04:
            return None
        community = data[s:e].decode(errors="replace")
        pdu, s, _ = _tlv(data, e)
        _, rs, re_ = _tlv(data, s)  # request-id
        return community, pdu, int.from_bytes(data[rs:re_], "big", signed=True)
    except IndexError:
        return None


class CountingRelay:
    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1"):
        self.upstream = upstream
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((host, 0))
        self.host, self.port = self.front.getsockname()
        self.requests: list[Request] = []
        self.answered: set[tuple[tuple[str, int], int]] = set()  # (source, request id) the agent answered
        self._lock = threading.Lock()
        self._backs: dict[tuple[str, int], socket.socket] = {}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.front, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counting-relay", daemon=True)

    def start(self) -> "CountingRelay":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in [self.front, *self._backs.values()]:
            s.close()

    def since(self, moment: float) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.at >= moment]

    def answered_gets(self) -> dict[str, int]:
        """Per device (community): the GETs the agent answered, a retried request counted once."""
        counts: dict[str, int] = {}
        with self._lock:
            seen = {(r.source, r.request_id): r.community for r in self.requests if r.pdu == GET_PDU}
            for key, community in seen.items():
                if key in self.answered:
                    counts[community] = counts.get(community, 0) + 1
        return counts

    def _back(self, source: tuple[str, int]) -> socket.socket:
        back = self._backs.get(source)
        if back is None:
            back = self._backs[source] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            back.bind(("127.0.0.1", 0))
            back.connect(self.upstream)
            self._selector.register(back, selectors.EVENT_READ, source)
        return back

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                sock, source = key.fileobj, key.data
                try:
                    if source is None:  # a request: count it, pass it on
                        data, sender = sock.recvfrom(65535)
                        parsed = parse_request(data)
                        if parsed is not None:
                            with self._lock:
                                self.requests.append(Request(time.monotonic(), parsed[0], parsed[2], parsed[1], sender))
                        self._back(sender).send(data)
                    else:  # the agent's answer: back to whoever asked
                        data = sock.recv(65535)
                        parsed = parse_request(data)
                        if parsed is not None:
                            with self._lock:
                                self.answered.add((source, parsed[2]))
                        self.front.sendto(data, source)
                except OSError:
                    continue


def udp_ports_of(pid: int) -> set[int]:
    """The local UDP ports of a process's sockets."""
    inodes = socket_inodes(pid)
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[9]) in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
