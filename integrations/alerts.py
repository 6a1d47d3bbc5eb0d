"""Alerts from existing monitoring, parsed into one shape (pure: no I/O).

- Prometheus Alertmanager webhook, payload version 4: `alerts[]` with
  `status` firing|resolved, `labels` (alertname, instance, severity ...),
  `annotations`, `fingerprint`.
- LibreNMS API transport (JSON body): `hostname`, `sysName`, `ip`, rule
  `name`/`title`, `severity`, `state` (0 ok/recovered, 1 alert, 2 acknowledged,
  3 got worse, 4 got better).
- Zabbix webhook media type: the parameters the media type sends, from its
  macros: `host`/`host_name` ({HOST.NAME}), `host_ip` ({HOST.IP}),
  `event_name`/`trigger_name` ({EVENT.NAME}), `severity` ({EVENT.SEVERITY}),
  `event_value` ({EVENT.VALUE}: 1 problem, 0 recovery) or `event_status`.

Every alert says which asset it is about with candidate host strings (an
explicit `rackcard_asset` label first, then names and IPs) and which check it
is: an explicit `rackcard_check` label, else a known kind of alert mapped to
the probe's own check key (host down -> `reachability`, UPS on battery ->
`power:source`), so the same fault seen by a probe and by the monitoring is
the same check and one incident. Anything else is `alert:<name>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from accounts.errors import Invalid

SOURCES = ("alertmanager", "librenms", "zabbix")
MAX_ALERTS = 5000
MAX_KEY = 64

#: Alert names that mean the probe's checks (searched case-insensitively in the name).
KNOWN_CHECKS: tuple[tuple[str, re.Pattern], ...] = (
    ("power:source", re.compile(r"on[ _-]?battery|mains|power[ _-]?(loss|lost|fail)|input[ _-]?power", re.I)),
    ("reachability", re.compile(
        r"(instance|host|node|target|device|server)[ _-]?(is[ _-]?)?(down|unreachable|unavailable)"
        r"|unreachable|unavailable by icmp|icmp|ping|^up$|blackbox.*(fail|down)", re.I)),
)
CRITICAL_SEVERITIES = {"critical", "disaster", "high", "average", "error", "page", "emergency", "alert"}


@dataclass(frozen=True)
class Alert:
    source: str
    firing: bool
    name: str  # alertname / rule / trigger
    key: str  # the check key the observation is recorded under
    severity: str  # critical | warning
    hosts: tuple[str, ...]  # candidate asset identifiers, best first (label, name, IP)
    message: str
    ident: str  # the monitoring system's own id of the alert (fingerprint, event id)
    labels: dict


def host_of(value: str) -> str:
    """`10.0.0.5:9100`, `[2001:db8::1]:9100`, `http://sw1.example:80/x` -> the host part."""
    text = (value or "").strip()
    if "://" in text:
        text = text.split("://", 1)[1].split("/", 1)[0]
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def check_key(name: str, explicit: str | None = None) -> str:
    if explicit and str(explicit).strip():
        return str(explicit).strip()[:MAX_KEY]
    for key, pattern in KNOWN_CHECKS:
        if pattern.search(name or ""):
            return key
    slug = re.sub(r"[^A-Za-z0-9_.:-]+", "_", (name or "unnamed").strip()).strip("_") or "unnamed"
    return ("alert:" + slug)[:MAX_KEY]


def _severity(raw) -> str:
    return "critical" if str(raw or "").strip().lower() in CRITICAL_SEVERITIES else "warning"


def _hosts(*values) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        h = host_of(str(v)) if v not in (None, "") else ""
        if h and h not in out:
            out.append(h)
    return tuple(out)


def _text(value, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise Invalid(f"{field} must be a string", field=field)
    return str(value)


def _ident(*parts) -> str:
    """The alert's own id and time: a webhook retried with it is the same alert,
    a new firing of the same rule is not. "" when the monitoring sent no id."""
    if not parts or parts[0] in (None, ""):
        return ""
    return "|".join(str(p) for p in parts if p not in (None, ""))


def _object(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be an object", field=field)
    return value


def parse_alertmanager(payload) -> list[Alert]:
    payload = _object(payload, "body")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise Invalid("an Alertmanager webhook carries an 'alerts' list (payload version 4)", field="alerts")
    if len(alerts) > MAX_ALERTS:
        raise Invalid(f"at most {MAX_ALERTS} alerts per request", field="alerts")
    out = []
    for i, a in enumerate(alerts):
        where = f"alerts[{i}]"
        a = _object(a, where)
        labels = {str(k): _text(v, f"{where}.labels.{k}") for k, v in _object(a.get("labels"), f"{where}.labels").items()}
        annotations = _object(a.get("annotations"), f"{where}.annotations")
        status = _text(a.get("status") or payload.get("status"), f"{where}.status")
        if status not in ("firing", "resolved"):
            raise Invalid("status must be 'firing' or 'resolved'", field=f"{where}.status")
        name = labels.get("alertname", "")
        if not name:
            raise Invalid("an alert needs the label alertname", field=f"{where}.labels.alertname")
        summary = _text(annotations.get("summary") or annotations.get("description"), f"{where}.annotations.summary")
        out.append(Alert(
            source="alertmanager", firing=status == "firing", name=name,
            key=check_key(name, labels.get("rackcard_check")), severity=_severity(labels.get("severity")),
            hosts=_hosts(labels.get("rackcard_asset"), labels.get("instance"), labels.get("host"),
                         labels.get("hostname"), labels.get("nodename")),
            message=f"Alertmanager: {name}" + (f": {summary}" if summary else ""),
            ident=_ident(a.get("fingerprint"), a.get("startsAt")), labels=labels,
        ))
    return out


#: LibreNMS alert states: 0 ok (recovered), 1 alert, 2 acknowledged, 3 worse, 4 better.
_LIBRENMS_FIRING = {"1": True, "2": True, "3": True, "4": True, "0": False, "ok": False, "recovered": False,
                    "alert": True, "alerting": True, "firing": True, "resolved": False}


def parse_librenms(payload) -> list[Alert]:
    payload = _object(payload, "body")
    state = str(payload.get("state", "")).strip().lower()
    if state not in _LIBRENMS_FIRING:
        raise Invalid("state must be 0 (recovered) or 1..4 (alerting), as LibreNMS sends it", field="state")
    name = _text(payload.get("name") or payload.get("rule") or payload.get("title"), "name")
    if not name:
        raise Invalid("a LibreNMS alert needs the rule name (name, rule or title)", field="name")
    hosts = _hosts(payload.get("rackcard_asset"), payload.get("hostname"), payload.get("sysName"),
                   payload.get("ip"), payload.get("display"))
    if not hosts:
        raise Invalid("a LibreNMS alert needs hostname, sysName or ip", field="hostname")
    labels = {k: _text(payload.get(k), k) for k in ("hostname", "sysName", "ip", "rackcard_asset") if payload.get(k)}
    title = _text(payload.get("title") or payload.get("msg"), "title")
    return [Alert(
        source="librenms", firing=_LIBRENMS_FIRING[state], name=name,
        key=check_key(name, payload.get("rackcard_check")), severity=_severity(payload.get("severity")),
        hosts=hosts, message=f"LibreNMS: {title or name}",
        ident=_ident(payload.get("uid") or payload.get("id") or payload.get("alert_id"), payload.get("timestamp")),
        labels=labels,
    )]


def parse_zabbix(payload) -> list[Alert]:
    payload = _object(payload, "body")
    value = str(payload.get("event_value", "")).strip()
    status = str(payload.get("event_status") or payload.get("status") or "").strip().upper()
    if value in ("0", "1"):
        firing = value == "1"
    elif status in ("PROBLEM", "RESOLVED", "OK"):
        firing = status == "PROBLEM"
    else:
        raise Invalid("give event_value ({EVENT.VALUE}: 1 problem, 0 recovery) or event_status PROBLEM|RESOLVED",
                      field="event_value")
    name = _text(payload.get("event_name") or payload.get("trigger_name") or payload.get("subject"), "event_name")
    if not name:
        raise Invalid("a Zabbix event needs event_name ({EVENT.NAME}) or trigger_name", field="event_name")
    hosts = _hosts(payload.get("rackcard_asset"), payload.get("host"), payload.get("host_name"),
                   payload.get("hostname"), payload.get("host_ip"))
    if not hosts:
        raise Invalid("a Zabbix event needs host ({HOST.NAME}) or host_ip ({HOST.IP})", field="host")
    labels = {k: _text(payload.get(k), k) for k in ("host", "host_name", "host_ip", "rackcard_asset") if payload.get(k)}
    return [Alert(
        source="zabbix", firing=firing, name=name, key=check_key(name, payload.get("rackcard_check")),
        severity=_severity(payload.get("severity") or payload.get("event_severity")), hosts=hosts,
        message=f"Zabbix: {name}",
        ident=_ident(payload.get("event_id") or payload.get("eventid"), payload.get("event_date"), payload.get("event_time")),
        labels=labels,
    )]


PARSERS = {"alertmanager": parse_alertmanager, "librenms": parse_librenms, "zabbix": parse_zabbix}
