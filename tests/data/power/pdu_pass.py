"""net-snmp `pass_persist` script: a switched APC rPDU2 whose outlets a test controls.

State in STATE_DIR/outlets.json ({"1": 2, ...}: rPDU2 state 1 = off, 2 = on);
every SET is appended to STATE_DIR/sets.log ("<outlet> <command>", a refused one
"<outlet> refused <command>", so a retry shows). With STATE_DIR/refuse present,
every SET fails (notWritable); with STATE_DIR/refuse-on, every "on". An outlet switched off SIGSTOPs the process in
STATE_DIR/fed-<outlet>.pid (the device it feeds goes silent), switched on SIGCONTs it.
A reboot (command 3) switches the outlet off for the next N reads of its state
(N in STATE_DIR/reboot_reads, default 0: back on before anyone looks), then on.
With STATE_DIR/stuck present, a command is logged but the state never changes.
With STATE_DIR/fed-<outlet>.cmd (a JSON argv), the fed device really restarts:
killed when switched off, started again from that command when switched on (its
new pid in fed-<outlet>.pid), so its uptime starts from zero.
"""
import json
import os
import signal
import subprocess
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


def switch(n, command, quiet=False):
    if not quiet:
        _log(f"{n} {command}")
    outlets[n] = OFF if command == "off" else ON
    tmp = state_dir / "outlets.json.tmp"
    tmp.write_text(json.dumps(outlets))
    os.replace(tmp, state_dir / "outlets.json")  # whole, never half-written
    pid_file, cmd_file = state_dir / f"fed-{n}.pid", state_dir / f"fed-{n}.cmd"
    if pid_file.exists() and cmd_file.exists():
        if command == "off":
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        else:
            started = subprocess.Popen(json.loads(cmd_file.read_text()), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            pid_file.write_text(str(started.pid))
    elif pid_file.exists():
        os.kill(int(pid_file.read_text()), signal.SIGSTOP if command == "off" else signal.SIGCONT)


def _log(line):
    with open(state_dir / "sets.log", "a") as log:
        log.write(line + "\n")


def _rebooting() -> dict:
    path = state_dir / "rebooting.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _read_state(n):
    """A read of outlet n's state: counts down a reboot under way (off until it ends)."""
    rebooting = _rebooting()
    if n in rebooting:
        rebooting[n] -= 1
        if rebooting[n] <= 0:
            del rebooting[n]
            switch(n, "on", quiet=True)
        (state_dir / "rebooting.json").write_text(json.dumps(rebooting))


def answer(lines):
    global outlets
    outlets = json.loads((state_dir / "outlets.json").read_text())
    op = lines[0]
    if op == "PING":
        return ["PONG"]
    oid = lines[1]
    if op == "get":
        if oid.startswith(STATE) and oid[len(STATE):] in outlets:
            _read_state(oid[len(STATE):])
            outlets = json.loads((state_dir / "outlets.json").read_text())
        return next(([o, t, v] for o, t, v in rows() if o == oid), ["NONE"])
    if op == "getnext":
        return next(([o, t, v] for o, t, v in sorted(rows(), key=lambda r: key(r[0])) if key(o) > key(oid)),
                    ["NONE"])
    n = oid[len(CONTROL):] if oid.startswith(CONTROL) else None
    command = COMMANDS.get(int(lines[2].split()[-1]))
    refused = (state_dir / "refuse").exists() or (command == "on" and (state_dir / "refuse-on").exists())
    if refused or n not in outlets:
        _log(f"{n} refused {command}")
        return ["not-writable"]
    if command is None:
        return ["wrong-value"]
    if (state_dir / "stuck").exists():
        _log(f"{n} {command}")
        return ["DONE"]
    if command == "reboot":
        reads = int((state_dir / "reboot_reads").read_text()) if (state_dir / "reboot_reads").exists() else 0
        _log(f"{n} reboot")
        if reads > 0:
            switch(n, "off", quiet=True)
            (state_dir / "rebooting.json").write_text(json.dumps({**_rebooting(), n: reads}))
        return ["DONE"]
    switch(n, command)
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
