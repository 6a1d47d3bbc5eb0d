from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class User(Table, tablename="rc_user"):
    email = Varchar(length=254, unique=True, index=True)  # stored lower-case
    name = Varchar(length=200, default="")
    password_hash = Text(default="")
    role = Varchar(length=16)  # admin | engineer | noc | client
    # A client user belongs to one client (cmdb sits above accounts: plain id, no FK).
    client_id = Integer(null=True, default=None, index=True)
    timezone = Varchar(length=64, default="UTC")
    language = Varchar(length=8, default="")  # "" = from the browser's Accept-Language
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class ApiToken(Table, tablename="rc_api_token"):
    """Bearer tokens, stored as SHA-256 of a 256-bit random value (never the token itself)."""

    user = ForeignKey(references=User, null=True)  # null for probe and ingest tokens
    name = Varchar(length=100, default="")
    kind = Varchar(length=16, default="user")  # user | probe | ingest
    token_hash = Varchar(length=64, unique=True, index=True)
    prefix = Varchar(length=12, default="")  # first characters, to tell tokens apart in lists
    site_code = Varchar(length=50, null=True, default=None)  # probe tokens may be limited to one site
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked = Boolean(default=False)


class AuditLog(Table, tablename="rc_audit_log"):
    """Who did what, when, from where, before/after (accounts.audit). Append-only:
    the database refuses UPDATE and DELETE (triggers in the migrations)."""

    at = Timestamptz(default=TimestamptzNow(), index=True)
    user_id = Integer(null=True, default=None)
    actor = Varchar(length=254, default="")
    action = Varchar(length=16)  # create | update | delete | import | export | login | login_failed | ...
    entity = Varchar(length=32, index=True)
    entity_id = Integer(null=True, default=None, index=True)
    changes = JSON(default="{}")
    source = Varchar(length=64, default="")  # the request's peer address, or "cli"


class Session(Table, tablename="rc_session"):
    """A browser login: the cookie carries a random key, the table its SHA-256
    (like API tokens), so a database leak does not hand out live sessions."""

    key_hash = Varchar(length=64, unique=True, index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(default=TimestamptzNow(), index=True)
