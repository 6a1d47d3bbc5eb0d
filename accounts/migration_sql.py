"""Raw SQL for migrations: the rules Piccolo's column API can't express
(composite and partial unique indexes), written once for both engines."""

from piccolo.engine import engine_finder


def run_sql(*statements: str):
    """A coroutine function for `MigrationManager.add_raw` that runs `statements`
    inside the migration's own transaction."""

    async def run() -> None:
        engine = engine_finder()
        for statement in statements:
            await engine.run_ddl(statement)

    return run
