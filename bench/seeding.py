"""Seeding shared by the benchmarks: departments and N users in one `INSERT ... SELECT`.

    from bench.seeding import seed_users
    scoped_depts = await seed_users(url, 10_000)   # a migrated, otherwise empty database

111 departments (root, 10 divisions, 100 teams) and N users `u1`..`uN` spread over the teams,
created 2026-01-01 onwards (two a second), with an unusable password hash; `generate_series` on
PostgreSQL, a recursive CTE elsewhere (1M users in about a minute), then analyzed. The root
department has the code `root`, the one the initial data matches, so `load_initial_data` may
run afterwards.
"""

# ruff: noqa: S608  (SQL built from integers it computed)
from __future__ import annotations


def users_sql(dialect: str, first_team: int, n: int) -> str:
    columns = (
        "username, name, password_hash, status, is_superuser, dept_id, must_change_password, "
        "mfa_enabled, version, created_at, updated_at"
    )
    if dialect == "postgresql":
        return (
            f"INSERT INTO sys_user ({columns}) SELECT 'u' || g, "
            "'N' || to_hex((g::bigint * 2654435761) % 4294967296), 'x', 'active', false, "
            f"{first_team} + g % 100, false, false, 1, "
            "timestamptz '2026-01-01' + (g / 2) * interval '1 second', now() "
            f"FROM generate_series(1, {n}) g"
        )
    seq = (
        "(WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq "
        f"WHERE g < {n}) SELECT g FROM seq) s"
    )
    if dialect == "sqlite":
        return (
            f"INSERT INTO sys_user ({columns}) SELECT 'u' || g, "
            "printf('N%08x', (g * 2654435761) % 4294967296), 'x', 'active', 0, "
            f"{first_team} + g % 100, 0, 0, 1, "
            "datetime('2026-01-01', '+' || (g / 2) || ' seconds') || '.000000', "
            f"'2026-01-01 00:00:00.000000' FROM {seq}"
        )
    return (
        f"INSERT INTO sys_user ({columns}) SELECT CONCAT('u', g), "
        "CONCAT('N', LPAD(HEX((g * 2654435761) % 4294967296), 8, '0')), 'x', 'active', 0, "
        f"{first_team} + g % 100, 0, 0, 1, "
        "TIMESTAMPADD(SECOND, g DIV 2, '2026-01-01'), NOW(6) "
        f"FROM {seq}"
    )


async def seed_users(url: str, n: int) -> frozenset[int]:
    """Departments and `n` users; returns the scoped user's departments (division 0's tree)."""
    from sqlalchemy import insert, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.modules.system.dept.models import Dept

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            dialect = conn.dialect.name
            if dialect in ("mysql", "mariadb"):
                await conn.execute(text("SET SESSION max_recursive_iterations = 100000000"))
            root = (
                await conn.execute(insert(Dept).values(name="root", code="root", path="/"))
            ).inserted_primary_key
            assert root is not None
            divisions = []
            for d in range(10):
                row = await conn.execute(
                    insert(Dept).values(
                        name=f"d{d}", code=f"d{d}", parent_id=root[0], path=f"/{root[0]}/"
                    )
                )
                assert row.inserted_primary_key is not None
                divisions.append(row.inserted_primary_key[0])
            teams: list[int] = []
            scoped = {divisions[0]}
            for t in range(100):
                parent = divisions[t % 10]
                row = await conn.execute(
                    insert(Dept).values(
                        name=f"t{t}", code=f"t{t}", parent_id=parent, path=f"/{root[0]}/{parent}/"
                    )
                )
                assert row.inserted_primary_key is not None
                teams.append(row.inserted_primary_key[0])
                if t % 10 == 0:
                    scoped.add(teams[-1])
            assert teams == list(range(teams[0], teams[0] + 100))
            await conn.execute(
                text(users_sql("mysql" if dialect == "mariadb" else dialect, teams[0], n))
            )
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("COMMIT"))
                await conn.execute(text("VACUUM ANALYZE sys_user"))
            elif conn.dialect.name in ("mysql", "mariadb"):
                await conn.execute(text("ANALYZE TABLE sys_user"))
            else:
                await conn.execute(text("ANALYZE"))
        return frozenset(scoped)
    finally:
        await engine.dispose()
