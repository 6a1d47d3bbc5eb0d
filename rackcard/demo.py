"""`rackcard demo`: demo data and simulated agents (filled in by the demo feature)."""

from contextlib import asynccontextmanager


@asynccontextmanager
async def demo_context(settings):
    yield
