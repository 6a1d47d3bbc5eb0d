"""Piccolo's config. The engine is resolved lazily (PEP 562) from
RACKCARD_DATABASE_URL, so importing this module connects to nothing."""

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(
    apps=[
        "accounts.piccolo_app",
        "cmdb.piccolo_app",
        "incidents.piccolo_app",
        "integrations.piccolo_app",
    ]
)


def __getattr__(name: str):
    if name == "DB":
        from rackcard.db import current_engine

        return current_engine()
    raise AttributeError(name)
