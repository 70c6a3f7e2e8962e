"""Server-side request forgery (docs/security-checklist.md §2 API7, ASVS 1.3.6): the app fetches no
URL a
client gives. Nothing in the API takes a URL, and the only outbound client is the S3 object
store, whose endpoint comes from configuration (S3_ENDPOINT_URL). These tests keep it so: a
new outbound client, or a request field that names a URL, fails here and must bring the SSRF
tests of §2 API7 (private-address and scheme allowlists) with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tests.security.routes import operations

APP_DIR = Path(__file__).resolve().parents[2] / "app"
OUTBOUND = (
    "httpx",
    "requests",
    "aiohttp",
    "urllib.request",
    "urllib3",
    "http.client",
    "pycurl",
    "boto3",
    "botocore",
    "aiobotocore",
    "smtplib",
    "aiosmtplib",
    "ftplib",
    "socket",
)
# file (relative to app/) -> outbound modules it may import, and why that is safe.
ALLOWED = {
    "modules/files/storage.py": ({"boto3", "botocore"}, "S3 endpoint from settings only"),
    "modules/scheduler/runner.py": ({"socket"}, "socket.gethostname() only"),
    "modules/scheduler/leader.py": ({"socket"}, "socket.gethostname() only"),
    "modules/monitor/server/service.py": ({"socket"}, "socket.gethostname() only"),
    "cli/preflight.py": (
        {"socket"},
        "binds the configured host and port before `run` starts (a busy port is one line); "
        "it listens, it never connects",
    ),
}
# What a reviewed file may call on `socket`: the host name, or (the CLI's port check) a
# listening socket on the server's own address.
SOCKET_USES = {
    "cli/preflight.py": {
        "getaddrinfo",
        "socket",
        "SOCK_STREAM",
        "AI_PASSIVE",
        "gaierror",
        "SOL_SOCKET",
        "SO_REUSEADDR",
    }
}
URL_NAME = re.compile(r"(^|_)(url|uri|href|link|webhook|callback|endpoint|host)s?($|_)", re.I)
# Request fields that hold an address the *browser* opens, never the server; each is checked
# to be http(s) only (tests/modules/system/menu/test_menu_route_fields.py). Reviewed list.
BROWSER_ONLY = {
    "POST /api/v1/system/menus: link": "external menu entry the console opens in a new tab",
    "PATCH /api/v1/system/menus/{menu_id}: link": "the same, on update",
}


def _outbound_imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            found.update(m for m in OUTBOUND if name == m or name.startswith(f"{m}."))
    return found


def test_only_reviewed_modules_open_outbound_connections() -> None:
    """§2 API7, API10: an outbound client anywhere else in app/ needs a review (and tests)."""
    found = {}
    for path in sorted(APP_DIR.rglob("*.py")):
        imports = _outbound_imports(ast.parse(path.read_text(encoding="utf-8")))
        if imports:
            found[path.relative_to(APP_DIR).as_posix()] = imports
    unexpected = {f: m for f, m in found.items() if not m <= ALLOWED.get(f, (set(), ""))[0]}
    assert not unexpected, unexpected
    assert set(found) == set(ALLOWED), "ALLOWED lists a file that no longer needs it"


def test_socket_is_used_for_the_host_name_only() -> None:
    for relative, (modules, _why) in ALLOWED.items():
        if "socket" not in modules:
            continue
        tree = ast.parse((APP_DIR / relative).read_text(encoding="utf-8"))
        used = {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "socket"
        }
        assert used <= SOCKET_USES.get(relative, {"gethostname"}), (relative, used)
        connects = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"connect", "connect_ex", "create_connection", "sendto"}
        }
        assert not connects, (relative, connects)


def _fields(
    schema: dict[str, Any], components: dict[str, Any], seen: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Every (property name, schema) reachable from `schema`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _fields(components[name], components, seen)
    found = []
    for key, value in schema.get("properties", {}).items():
        found.append((key, value))
        found.extend(_fields(value, components, seen))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found.extend(_fields(schema[key], components, seen))
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found.extend(_fields(sub, components, seen))
    return found


def test_no_request_field_takes_a_url(app: FastAPI) -> None:
    """§2 API7: no parameter or body field is a URL or host the server could be made to fetch."""
    components = app.openapi()["components"]["schemas"]
    offending = []
    checked = 0
    for method, path, operation in operations(app):
        inputs = [(p["name"], p.get("schema", {})) for p in operation.get("parameters", [])]
        for media in operation.get("requestBody", {}).get("content", {}).values():
            inputs.extend(_fields(media.get("schema", {}), components, set()))
        checked += len(inputs)
        for name, schema in inputs:
            formats = {schema.get("format")} | {s.get("format") for s in schema.get("anyOf", [])}
            if URL_NAME.search(name) or formats & {"uri", "url", "hostname", "ipv4", "ipv6"}:
                offending.append(f"{method} {path}: {name}")
    assert set(BROWSER_ONLY) <= set(offending), "a listed browser-only field disappeared"
    offending = [field for field in offending if field not in BROWSER_ONLY]
    assert not offending, offending
    assert checked >= 200, checked  # the walk really reached the parameters and body fields
