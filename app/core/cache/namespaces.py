"""Application namespaces inside the cache prefix, and the ones an operator may not clear.

An application key is ``<namespace>:<rest>`` (stored as ``<prefix><namespace>:<rest>``): the
namespace is its first ``:``-separated segment (``sess:1f3a...`` is in ``sess``). The monitor
module counts keys per namespace and lets an operator clear one namespace; the namespaces
declared with `protect_namespace` hold state rather than cache (security state whose loss would
weaken security, locks, queues) and are refused. The core protects its own below; a module that
keeps such state in a namespace of its own declares it in its spec, and `load_modules` protects
it when the module is enabled:

    module = ModuleSpec(
        ...,
        cache_namespaces={"otp-used": "TOTP codes already used (a code works once)"},
    )
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from app.core.schemas import pattern

NAMESPACE_SEPARATOR = ":"
# Lower-case letters, digits, `_`, `.` and `-`: no glob metacharacter, no separator, no path.
NAMESPACE_PATTERN = pattern(
    r"^[a-z0-9][a-z0-9_.-]{0,63}$", "up to 64 lowercase letters, digits and _ . -"
)
_NAMESPACE = re.compile(NAMESPACE_PATTERN)

_protected: dict[str, str] = {}


def is_namespace(name: str) -> bool:
    """Whether `name` is a well-formed namespace name (`NAMESPACE_PATTERN`)."""
    return _NAMESPACE.fullmatch(name) is not None


def namespace_of(key: str) -> str | None:
    """The namespace of `key` (prefix already removed), or None.

    None when the key has no separator or its first segment is not a well-formed namespace
    name: such a segment could be a token, so it is never reported as a name.
    """
    head, separator, _rest = key.partition(NAMESPACE_SEPARATOR)
    return head if separator and is_namespace(head) else None


def protect_namespace(name: str, reason: str) -> str:
    """Declare that the operator's "clear namespace" action must refuse `name`.

    Args:
        name: The namespace (first key segment, without the separator).
        reason: What the namespace holds, shown to the operator who is refused.

    Returns:
        `name`, so a module can keep it as a constant.
    """
    if not is_namespace(name):
        raise ValueError(f"invalid cache namespace {name!r}")
    _protected[name] = reason
    return name


def protected_namespaces() -> Mapping[str, str]:
    """Every protected namespace and the reason, sorted by name (read-only)."""
    return MappingProxyType(dict(sorted(_protected.items())))


# State the core keeps. Clearing a cache namespace is otherwise harmless by design (caches
# rebuild from the database; versions are random tokens), but these are the state itself, or
# guard its consistency across processes. The modules protect theirs (`ModuleSpec`).
protect_namespace("rl", "rate-limit windows")
protect_namespace("lock", "distributed locks: clearing one lets a second holder in")
protect_namespace("ver", "version counters: a reset counter can revive stale cached data")
