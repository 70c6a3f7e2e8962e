"""Checking the rows of a users import: every problem of every row, in one pass.

Each row is checked on whatever part of it is well formed, whether or not the rest is: its
format errors (from the reader), an unknown department or role, a username or email already
in the database or on an earlier row (any case), the password policy (with the row's names as
context words), and what the caller may assign (a department inside their data scope, roles
they may grant). A problem found on a part of a row stays a problem whatever the rest becomes,
so fixing what the report names never reveals a new problem on a second run. A row that is
wholly well formed also goes through `UserCreate`, the schema of `POST /users`.

The dry run and the real import share this check, so a real import refuses exactly the rows
the dry run reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.config import Settings
from app.core.errors import AppError
from app.core.excel import ImportResult, RowError
from app.core.responses import ErrorDetail
from app.core.schemas import Code
from app.core.security.passwords import check_password
from app.core.validation import human_message
from app.modules.system.user import repository as repo
from app.modules.system.user import service
from app.modules.system.user.schemas import UserCreate, UserImportRow

# Errors of the service name the API's fields; the file names them by code.
_FILE_FIELD = {"dept_id": "dept_code", "role_ids": "role_codes", "position_ids": None}


# The row model's own type for each cell checked alone (the password is used as given).
def _cell_type(name: str) -> TypeAdapter[Any]:
    info = UserImportRow.model_fields[name]
    annotated: Any = Annotated[info.annotation, info]
    return TypeAdapter(annotated)


_CELL_TYPES = {name: _cell_type(name) for name in ("username", "name", "email", "dept_code")}
_CODE = TypeAdapter(Code)

Problem = tuple[str | None, str]


@dataclass(slots=True)
class Candidate:
    """One data row: its well-formed cells (typed as `UserImportRow` types them), the
    positions and codes of its well-formed role codes, its raw cells, and the whole row when
    every cell is well formed."""

    number: int
    good: dict[str, Any]
    codes: list[tuple[int, str]]
    raw: dict[str, str] = field(default_factory=dict)
    parsed: UserImportRow | None = None


def _split(value: str | None) -> list[str]:
    """The codes of a role_codes cell, split as `UserImportRow` splits them."""
    return [code.strip() for code in re.split(r"[,;\n]", value or "") if code.strip()]


def _well_formed_codes(value: str | None) -> list[tuple[int, str]]:
    codes = []
    for position, code in enumerate(_split(value), 1):
        try:
            codes.append((position, _CODE.validate_python(code)))
        except ValidationError:
            continue  # reported by the reader as a format error of role_codes
    return codes


def candidates(parsed: ImportResult[UserImportRow]) -> list[Candidate]:
    """Every data row of the file in file order, well formed or not (so "same as row N"
    names the first one)."""
    failed: dict[int, set[str]] = {}
    for error in parsed.errors:
        failed.setdefault(error.row, set()).add(error.field or "")
    rows = [
        Candidate(r.row, r.data.model_dump(), list(enumerate(r.data.role_codes, 1)), parsed=r.data)
        for r in parsed.rows
    ]
    for number, cells in parsed.rejected:
        bad = failed.get(number, set())
        good: dict[str, Any] = {}
        for name, adapter in _CELL_TYPES.items():
            if name in cells and name not in bad:
                try:
                    good[name] = adapter.validate_python(cells[name])
                except ValidationError:
                    continue
        if "password" in cells and "password" not in bad:
            good["password"] = cells["password"]
        rows.append(Candidate(number, good, _well_formed_codes(cells.get("role_codes")), cells))
    return sorted(rows, key=lambda candidate: candidate.number)


@dataclass(slots=True)
class Lookups:
    depts: dict[str, int]
    roles: dict[str, int]
    usernames: set[str]
    emails: set[str]


async def lookups(db: AsyncSession, rows: Sequence[Candidate]) -> Lookups:
    """What the database already holds of the codes, usernames and emails the file names."""
    values = [row.good for row in rows]
    depts = {v["dept_code"] for v in values if v.get("dept_code")}
    roles = {code for row in rows for _, code in row.codes}
    usernames = [v["username"] for v in values if v.get("username")]
    emails = [v["email"] for v in values if v.get("email")]
    return Lookups(
        depts=await repo.dept_ids_by_code(db, depts),
        roles=await repo.role_ids_by_code(db, roles),
        usernames=await repo.taken_usernames(db, usernames),
        emails=await repo.taken_emails(db, emails),
    )


def _error_fields(exc: AppError) -> list[Problem]:
    details = [d if isinstance(d, ErrorDetail) else ErrorDetail(**d) for d in exc.errors]
    if not details:
        return [(None, exc.message)]
    return [(_FILE_FIELD.get(d.field or "", d.field), d.message) for d in details]


class Checker:
    """Checks rows one by one, remembering what the file itself has used."""

    def __init__(
        self, db: AsyncSession, settings: Settings, principal: Principal, lookups: Lookups
    ) -> None:
        self.db, self.settings, self.principal, self.lookups = db, settings, principal, lookups
        self.usernames: dict[str, int] = {}
        self.emails: dict[str, int] = {}
        # (dept_id, dept known, role_ids) -> problems: placement depends on nothing else.
        self.placements: dict[tuple[int | None, bool, tuple[int, ...]], list[Problem]] = {}

    async def check(self, row: Candidate) -> tuple[UserCreate | None, list[RowError]]:
        """The user to create (None if the row has any problem, format errors included) and
        the row's problems other than its format errors (the reader reported those)."""
        good = row.good
        problems: list[Problem] = []
        dept_id, dept_known = None, "dept_code" in good or "dept_code" not in row.raw
        if good.get("dept_code"):
            dept_id = self.lookups.depts.get(good["dept_code"].lower())
            if dept_id is None:
                problems.append(("dept_code", "no such department"))
                dept_known = False
        # By position: a misplaced password must not be echoed as a "code".
        unknown = [str(p) for p, code in row.codes if code.lower() not in self.lookups.roles]
        if unknown:
            problems.append(("role_codes", f"no such role (code #{', #'.join(unknown)})"))
        role_ids = sorted(
            {self.lookups.roles[c.lower()] for _, c in row.codes if c.lower() in self.lookups.roles}
        )
        data = None
        if row.parsed is not None:
            try:  # a rule of UserCreate that the row model lacks
                data = UserCreate(
                    **row.parsed.model_dump(exclude={"dept_code", "role_codes"}),
                    dept_id=dept_id,
                    role_ids=role_ids,
                )
            except ValidationError as exc:
                for error in exc.errors(include_input=False, include_url=False):
                    name = str(error["loc"][0]) if error["loc"] else None
                    problems.append((_FILE_FIELD.get(name or "", name), human_message(error)))
        if "password" in good:
            problems.extend(self._password(row))
        problems.extend(self._duplicates(row.number, good.get("username"), good.get("email")))
        problems.extend(await self._placement(dept_id, dept_known, role_ids))
        errors = [RowError(row.number, f, m) for f, m in problems]
        return (data if not problems else None), errors

    def _password(self, row: Candidate) -> list[Problem]:
        """The policy, with the row's names as context words: the well-formed ones, or what
        was typed (a name fixed later keeps its words)."""
        names = [row.good.get(key) or row.raw.get(key) for key in ("username", "name", "email")]
        try:
            check_password(
                row.good["password"],
                settings=self.settings,
                field="password",
                context=service.password_context(*names),
            )
        except AppError as exc:
            return _error_fields(exc)
        return []

    def _duplicates(self, number: int, username: str | None, email: str | None) -> list[Problem]:
        problems: list[Problem] = []
        for field_name, value, taken, seen in (
            ("username", username, self.lookups.usernames, self.usernames),
            ("email", email, self.lookups.emails, self.emails),
        ):
            if not value:
                continue
            key = value.lower()
            if key in taken:
                problems.append((field_name, "already exists"))
            elif key in seen:
                problems.append((field_name, f"same as row {seen[key]}"))
            else:
                seen[key] = number
        return problems

    async def _placement(
        self, dept_id: int | None, dept_known: bool, role_ids: list[int]
    ) -> list[Problem]:
        key = (dept_id, dept_known, tuple(role_ids))
        if key not in self.placements:
            found = await service.placement_problems(
                self.db, self.principal, dept_id=dept_id, role_ids=role_ids, dept_known=dept_known
            )
            self.placements[key] = [p for exc in found for p in _error_fields(exc)]
        return self.placements[key]
