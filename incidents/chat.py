"""Chat messages for incident events (pure: no I/O) — what the Telegram and
Slack/Mattermost targets of incidents.notify post, in the target's language
(en, ru): the event and the incident, the affected clients, the minutes of
battery left when a UPS is draining, and the link to the incident."""

from __future__ import annotations

LANGUAGES = ("en", "ru")

_TEXT = {
    "en": {
        "opened": "Incident #{id} opened",
        "escalated": "Incident #{id} escalated",
        "breached": "Incident #{id}: SLA breached",
        "resolved": "Incident #{id} resolved",
        "reopened": "Incident #{id} reopened",
        "comment": "Incident #{id}: new update",
        "other": "Incident #{id}: {event}",
        "priority": "Priority {priority}, category {category}, status {status}",
        "clients": "Affected clients: {names}",
        "no_clients": "No clients affected",
        "battery": "Battery: about {minutes} min left",
        "line": "Line: {line}",
    },
    "ru": {
        "opened": "Инцидент #{id} открыт",
        "escalated": "Инцидент #{id} эскалирован",
        "breached": "Инцидент #{id}: нарушен SLA",
        "resolved": "Инцидент #{id} решён",
        "reopened": "Инцидент #{id} открыт повторно",
        "comment": "Инцидент #{id}: обновление",
        "other": "Инцидент #{id}: {event}",
        "priority": "Приоритет {priority}, категория {category}, статус {status}",
        "clients": "Затронутые клиенты: {names}",
        "no_clients": "Клиенты не затронуты",
        "battery": "Батарея: осталось около {minutes} мин",
        "line": "Линия: {line}",
    },
}

_MARK = {"opened": "🔴", "reopened": "🔴", "escalated": "🟠", "breached": "⏰", "resolved": "✅", "comment": "💬"}

#: Category and status names in Russian (English uses the codes as they are).
_RU_WORDS = {
    "fiber": "оптика", "power": "питание", "equipment": "оборудование", "reboot": "перезагрузка",
    "request": "запрос", "other": "другое", "new": "новый", "acknowledged": "принят", "in_progress": "в работе",
    "pending_client": "ждёт клиента", "resolved": "решён", "closed": "закрыт",
}


def message(event: str, payload: dict, language: str = "en", *, link: str = "",
            battery_minutes: float | None = None) -> str:
    """The chat text of one notification (plain text, a few lines)."""
    t = _TEXT.get(language, _TEXT["en"])
    incident = payload.get("incident") or {}

    def word(value) -> str:
        return _RU_WORDS.get(str(value), str(value)) if language == "ru" else str(value)

    head = t.get(event, t["other"]).format(id=incident.get("id"), event=event)
    lines = [f"{_MARK.get(event, 'ℹ️')} {head}: {incident.get('title', '')}",
             t["priority"].format(priority=incident.get("priority", ""), category=word(incident.get("category", "")),
                                  status=word(incident.get("status", "")))]
    names = [c.get("name", "") for c in incident.get("affected_clients", []) if c.get("name")]
    lines.append(t["clients"].format(names=", ".join(names)) if names else t["no_clients"])
    if battery_minutes is not None:
        lines.append(t["battery"].format(minutes=int(battery_minutes)))
    if event == "escalated" and payload.get("to"):
        lines.append(t["line"].format(line=payload["to"]))
    if payload.get("comment"):
        lines.append(str(payload["comment"])[:1000])
    if link:
        lines.append(link)
    return "\n".join(lines)
