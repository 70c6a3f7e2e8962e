"""Operation ids a generated client can use as names: `users-list`, `auth-login`.

FastAPI's default (`list_users_api_v1_system_users_get`) repeats the path and the method. The
app sets `operation_id` as its `generate_unique_id_function`, so every route of every module
(and of modules made by `main.py generate`) gets `<resource>-<action>`:

- the resource is the route's first tag, after its `module:` part, in kebab case
  (`system: users` -> `users`, `auth` -> `auth`); a route without tags uses the first path
  segment after the API prefix;
- the action is the endpoint's function name without the words that repeat the resource,
  singular or plural or abbreviated (`list_users` -> `list`, `reset_user_password` ->
  `reset-password`, `list_dict_types` under `system: dictionaries` -> `list-types`).

Ids are stable (they follow the code, not the order of inclusion); `tests/core/test_openapi.py`
checks that every one matches `^[a-z0-9]+(-[a-z0-9]+)+$` and that none repeats.
"""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
_API_PREFIX = re.compile(r"^/api/v\d+/")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _repeats(word: str, resource: list[str]) -> bool:
    """True if `word` of a function name names the resource (`user` in `users`, `dict` in
    `dictionaries`, `params` in `parameters`)."""
    stem = _singular(word)
    for part in resource:
        if stem in (part, _singular(part)):
            return True
        if len(stem) >= 4 and part.startswith(stem):
            return True
    return False


def _resource(route: Any) -> list[str]:
    tags = [str(tag) for tag in (getattr(route, "tags", None) or [])]
    if tags:
        return _words(tags[0].rsplit(":", 1)[-1])
    path = _API_PREFIX.sub("/", str(getattr(route, "path_format", None) or route.path))
    static = [segment for segment in path.split("/") if segment and "{" not in segment]
    return _words(static[0]) if static else ["root"]


def operation_id(route: Any) -> str:
    """`<resource>-<action>` for `route` (an APIRoute or FastAPI's per-inclusion context)."""
    resource = _resource(route) or ["root"]
    name = _words(str(route.name))
    action = [word for word in name if not _repeats(word, resource)] or name or ["call"]
    return "-".join([*resource, *action])
