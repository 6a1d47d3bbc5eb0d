"""Who is asking. Every read and write in the service layer takes a Viewer, so
tenant scoping (a client user sees only their own client) is applied in one
place rather than per handler."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "engineer", "noc", "client")
STAFF_ROLES = ("admin", "engineer", "noc")
INVENTORY_ROLES = ("admin", "engineer")


@dataclass(frozen=True)
class Viewer:
    user_id: int | None
    email: str
    role: str  # admin | engineer | noc | client | probe | ingest
    client_id: int | None = None  # set for client users
    probe_name: str | None = None  # set for probe and ingest tokens
    site_code: str | None = None  # a probe token limited to one site
    timezone: str = "UTC"
    language: str = ""  # the user's chosen UI language; "" = the browser's

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def edits_inventory(self) -> bool:
        """Admins and engineers change the inventory; the NOC reads it (and works incidents)."""
        return self.role in INVENTORY_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_client(self) -> bool:
        return self.role == "client"

    @property
    def is_probe(self) -> bool:
        return self.role == "probe"

    @property
    def is_ingest(self) -> bool:
        """An alert-ingest token: posts monitoring alerts, reads nothing."""
        return self.role == "ingest"

    @property
    def sees_secrets(self) -> bool:
        """SNMP secrets leave the server only for admins and probe workers."""
        return self.role in ("admin", "probe")


#: For CLI commands and internal jobs: acts as an administrator.
SYSTEM = Viewer(user_id=None, email="system", role="admin")
