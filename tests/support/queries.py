"""Count the SQL statements an app runs, to prove a warm path queries nothing or that a list
does not issue one query per row (N+1).

    with counting(app) as statements:
        await client.get("/api/v1/articles", headers=headers)
    assert len(statements) == 4
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from sqlalchemy import event


@contextmanager
def counting(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements run on the app's engine while the block runs."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def beyond_session_check(statements: list[str]) -> list[str]:
    """The statements of `counting` but the lite shape's one session check per signed-in
    request (the revocation epoch read, which lets a second process such as the CLI revoke
    what this one trusts: docs/access-control.md); with Redis there is none."""
    return [s for s in statements if "auth_revocation_epoch" not in s]


async def settle(app: FastAPI) -> None:
    """Write out what the audit writers hold, so their periodic flush cannot land inside a
    `counting` block and be taken for a statement of the request under test."""
    from app.modules.system.login_log.recorder import writer_for as login_log_writer
    from app.modules.system.operation_log.recorder import writer_for as operation_log_writer

    for writer in (operation_log_writer(app), login_log_writer(app)):
        if writer is not None:
            await writer.flush()
