"""Typed settings, read from the environment once at start-up.

Every variable is listed in the README. A real environment variable always
wins; defaults work out of the box (SQLite file and secret under ./var/).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A setting is missing or unusable; the message names the variable."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(c or '(empty)' for c in choices)}, got {value!r}")
    return value


def _new_secret_file(path: Path) -> str:
    """Generate the secret into `path`, which is 0600 from its first byte (never readable by
    others, whatever the umask), and appears whole: written beside it, then linked in, so a
    replica starting at the same moment reads either nothing or the whole key. The key already
    there wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(48)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(draft, path)
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        draft.unlink(missing_ok=True)
    return value


def _secret(env: dict[str, str], var_dir: Path) -> str:
    """The signing secret: from the environment, else generated once and kept in var/.

    Kept on disk (not per process) so web replicas and probe tokens keep working
    across restarts.
    """
    value = env.get("RACKCARD_SECRET_KEY")
    if value is None:
        path = var_dir / "secret_key"
        value = path.read_text().strip() if path.exists() else _new_secret_file(path)
    if len(value) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"RACKCARD_SECRET_KEY is too short ({len(value)} characters); use at least {MIN_SECRET_LENGTH}"
        )
    return value


@dataclass(frozen=True)
class EngineSettings:
    """Parameters of the incident engine's rules (see ARCHITECTURE.md)."""

    hold_down_polls: int = 3  # consecutive bad polls before a poll problem opens
    flap_changes: int = 5  # K state changes ...
    flap_window_s: int = 600  # ... within W seconds = flapping
    recovery_hold_s: int = 120  # all root checks OK this long = resolved
    reopen_window_s: int = 1800  # same fault within this reopens the incident
    site_silence_window_s: int = 120  # a remote site's assets all silent within this = one incident
    ola_minutes: tuple[int, int, int] = (30, 120, 480)  # L1, L2, L3 time before escalation


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 8000
    var_dir: Path = Path("var")
    log_level: str = "INFO"
    log_format: str = "text"
    trap_host: str = "0.0.0.0"
    trap_port: int = 1162
    embedded_probe: bool = True
    public_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    mail_from: str = "rackcard@localhost"
    noc_email: str = ""
    old_secret_keys: tuple[str, ...] = ()  # earlier RACKCARD_SECRET_KEYs that may still open stored secrets
    clock_tolerance_s: int = 300  # observations stamped further ahead of our clock are refused
    auth_failures_per_minute: int = 20  # failed logins/tokens per source address (and per account) before 429
    allow_private_webhooks: bool = False  # webhook targets on loopback/link-local/metadata addresses
    mail_intake: str = ""  # "" (off) | smtp | imap
    mail_listen_host: str = "127.0.0.1"
    mail_listen_port: int = 2525
    imap_host: str = ""
    imap_port: int = 993
    imap_user: str = ""
    imap_password: str = ""
    imap_ssl: bool = True
    imap_mailbox: str = "INBOX"
    imap_poll_s: int = 60
    mail_max_attachment_bytes: int = 10_000_000
    mail_attachment_types: tuple[str, ...] = ("image/*", "application/pdf", "text/plain", "text/csv")
    probe_stale_intervals: int = 3  # a probe worker silent on a site this many poll intervals = `probe stale`
    sample_raw_hours: int = 48
    probe_lease_s: int = 90  # a probe worker's lease on its share of targets runs this long unrenewed
    min_poll_interval_s: int = 5  # no asset is polled more often (tests shorten it)
    engine: EngineSettings = field(default_factory=EngineSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("RACKCARD_VAR_DIR", "var"))
        database_url = env.get("RACKCARD_DATABASE_URL") or f"sqlite:///{(var_dir / 'rackcard.sqlite').as_posix()}"
        ola = env.get("RACKCARD_OLA_MINUTES", "30,120,480")
        try:
            ola_minutes = tuple(int(x) for x in ola.split(","))
            assert len(ola_minutes) == 3
        except (ValueError, AssertionError):
            raise SettingsError(f"RACKCARD_OLA_MINUTES must be three integers L1,L2,L3, got {ola!r}") from None
        if env.get("RACKCARD_MAIL_INTAKE", "").strip().lower() == "imap" and not env.get("RACKCARD_IMAP_HOST"):
            raise SettingsError("RACKCARD_MAIL_INTAKE=imap needs RACKCARD_IMAP_HOST (and RACKCARD_IMAP_USER/PASSWORD)")
        return cls(
            database_url=database_url,
            secret_key=_secret(env, var_dir),
            host=env.get("RACKCARD_HOST", "127.0.0.1"),
            port=_int(env, "RACKCARD_PORT", 8000),
            var_dir=var_dir,
            log_level=env.get("RACKCARD_LOG_LEVEL", "INFO").upper(),
            log_format=env.get("RACKCARD_LOG_FORMAT", "text"),
            trap_host=env.get("RACKCARD_TRAP_HOST", "0.0.0.0"),
            trap_port=_int(env, "RACKCARD_TRAP_PORT", 1162),
            embedded_probe=_bool(env, "RACKCARD_EMBEDDED_PROBE", True),
            public_url=env.get("RACKCARD_PUBLIC_URL", ""),
            smtp_host=env.get("RACKCARD_SMTP_HOST", ""),
            smtp_port=_int(env, "RACKCARD_SMTP_PORT", 25),
            mail_from=env.get("RACKCARD_MAIL_FROM", "rackcard@localhost"),
            noc_email=env.get("RACKCARD_NOC_EMAIL", ""),
            old_secret_keys=tuple(k for k in env.get("RACKCARD_OLD_SECRET_KEYS", "").split(",") if k.strip()),
            clock_tolerance_s=_int(env, "RACKCARD_CLOCK_TOLERANCE_S", 300),
            auth_failures_per_minute=_int(env, "RACKCARD_AUTH_FAILURES_PER_MINUTE", 20),
            allow_private_webhooks=_bool(env, "RACKCARD_ALLOW_PRIVATE_WEBHOOKS", False),
            mail_intake=_choice(env, "RACKCARD_MAIL_INTAKE", ("", "smtp", "imap")),
            mail_listen_host=env.get("RACKCARD_MAIL_LISTEN_HOST", "127.0.0.1"),
            mail_listen_port=_int(env, "RACKCARD_MAIL_LISTEN_PORT", 2525),
            imap_host=env.get("RACKCARD_IMAP_HOST", ""),
            imap_port=_int(env, "RACKCARD_IMAP_PORT", 993),
            imap_user=env.get("RACKCARD_IMAP_USER", ""),
            imap_password=env.get("RACKCARD_IMAP_PASSWORD", ""),
            imap_ssl=_bool(env, "RACKCARD_IMAP_SSL", True),
            imap_mailbox=env.get("RACKCARD_IMAP_MAILBOX", "INBOX"),
            imap_poll_s=_int(env, "RACKCARD_IMAP_POLL_S", 60),
            mail_max_attachment_bytes=_int(env, "RACKCARD_MAIL_MAX_ATTACHMENT_BYTES", 10_000_000),
            mail_attachment_types=tuple(t.strip().lower() for t in env.get(
                "RACKCARD_MAIL_ATTACHMENT_TYPES", "image/*,application/pdf,text/plain,text/csv").split(",") if t.strip()),
            probe_stale_intervals=_int(env, "RACKCARD_PROBE_STALE_INTERVALS", 3),
            sample_raw_hours=_int(env, "RACKCARD_SAMPLE_RAW_HOURS", 48),
            probe_lease_s=_int(env, "RACKCARD_PROBE_LEASE_S", 90),
            min_poll_interval_s=_int(env, "RACKCARD_MIN_POLL_INTERVAL_S", 5),
            engine=EngineSettings(
                hold_down_polls=_int(env, "RACKCARD_HOLD_DOWN_POLLS", 3),
                flap_changes=_int(env, "RACKCARD_FLAP_CHANGES", 5),
                flap_window_s=_int(env, "RACKCARD_FLAP_WINDOW_S", 600),
                recovery_hold_s=_int(env, "RACKCARD_RECOVERY_HOLD_S", 120),
                reopen_window_s=_int(env, "RACKCARD_REOPEN_WINDOW_S", 1800),
                site_silence_window_s=_int(env, "RACKCARD_SITE_SILENCE_WINDOW_S", 120),
                ola_minutes=ola_minutes,  # type: ignore[arg-type]
            ),
        )
