"""net-snmp `pass_persist` script: a switched APC rPDU2 whose outlets a test controls.

State in STATE_DIR/outlets.json ({"1": 2, ...}: rPDU2 state 1 = off, 2 = on);
every SET is appended to STATE_DIR/sets.log ("<outlet> <command>"). With
STATE_DIR/refuse present, every SET fails (notWritable). An outlet switched off
SIGSTOPs the process in STATE_DIR/fed-<outlet>.pid (the device it feeds goes
silent), switched on SIGCONTs it.
"""
import json
import os
import signal
import sys
from pathlib import Path

BASE = ".1.3.6.1.4.1.318.1.1.26"
STATE = BASE + ".9.2.3.1.5."
NAME = BASE + ".9.2.3.1.3."
CONTROL = BASE + ".9.2.4.1.5."
ON, OFF = 2, 1
COMMANDS = {1: "on", 2: "off", 3: "reboot"}

state_dir = Path(sys.argv[1])
outlets: dict = {}


def rows():
    found = []
    for n in sorted(outlets, key=int):
        found.append((NAME + n, "string", f"outlet-{n}"))
    for n in sorted(outlets, key=int):
        found.append((STATE + n, "integer", str(outlets[n])))
    for n in sorted(outlets, key=int):
        found.append((CONTROL + n, "integer", "1" if outlets[n] == ON else "2"))
    return found


def key(oid):
    return tuple(int(p) for p in oid.strip(".").split("."))


def switch(n, command):
    with open(state_dir / "sets.log", "a") as log:
        log.write(f"{n} {command}\n")
    outlets[n] = OFF if command == "off" else ON
    tmp = state_dir / "outlets.json.tmp"
    tmp.write_text(json.dumps(outlets))
    os.replace(tmp, state_dir / "outlets.json")  # whole, never half-written
    pid_file = state_dir / f"fed-{n}.pid"
    if pid_file.exists():
        os.kill(int(pid_file.read_text()), signal.SIGSTOP if command == "off" else signal.SIGCONT)


def answer(lines):
    global outlets
    outlets = json.loads((state_dir / "outlets.json").read_text())
    op = lines[0]
    if op == "PING":
        return ["PONG"]
    oid = lines[1]
    if op == "get":
        return next(([o, t, v] for o, t, v in rows() if o == oid), ["NONE"])
    if op == "getnext":
        return next(([o, t, v] for o, t, v in sorted(rows(), key=lambda r: key(r[0])) if key(o) > key(oid)),
                    ["NONE"])
    n = oid[len(CONTROL):] if oid.startswith(CONTROL) else None
    if (state_dir / "refuse").exists() or n not in outlets:
        return ["not-writable"]
    command = COMMANDS.get(int(lines[2].split()[-1]))
    if command is None:
        return ["wrong-value"]
    switch(n, "off" if command == "off" else "on")
    return ["DONE"]


WANTS = {"PING": 1, "get": 2, "getnext": 2, "set": 3}  # lines per request (pass_persist protocol)
while True:
    first = sys.stdin.readline()
    if not first:
        break
    if not first.strip():  # snmpd ends some requests with a blank line: not a request, no answer
        continue
    request = [first.strip()] + [sys.stdin.readline().strip() for _ in range(WANTS.get(first.strip(), 1) - 1)]
    try:
        reply = answer(request)
    except Exception as exc:  # noted for the test to show, never a dead agent
        with open(state_dir / "errors.log", "a") as log:
            log.write(f"{request}: {exc!r}\n")
        reply = ["NONE"]
    print("\n".join(reply), flush=True)
