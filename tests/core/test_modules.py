"""The module contract: which modules are enabled, in what order, and what they declare."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.config import ConfigError, load_settings
from app.core.modules import (
    ModuleSpec,
    load_module_settings,
    load_modules,
    local_modules,
    module_names,
    module_settings,
)

SQLITE = "sqlite+aiosqlite:////tmp/fastapiadmin-modules-test.db"


def names(**overrides: object) -> list[str]:
    settings = load_settings("test", database_url=SQLITE, **overrides)
    return [spec.name for spec in load_modules(settings)]


def test_star_enables_every_package_under_app_modules_except_the_disabled_ones() -> None:
    assert {"system", "monitor", "files", "scheduler"} <= set(local_modules())
    assert "auth" not in local_modules()  # identity is one module: auth lives in system
    enabled = names()  # dev and test: the sample modules too
    assert set(enabled) == set(local_modules())
    assert enabled.index("system") < enabled.index("scheduler")
    assert set(names(modules_disabled=["example", "blog"])) == set(local_modules()) - {
        "example",
        "blog",
    }


def test_production_leaves_the_sample_modules_out_unless_asked_for() -> None:
    strong = "kP3-vZ8qL1xN7wR2tY5uB9mC4dF6gH0jS_eA"

    def prod(**overrides: object) -> set[str]:
        settings = load_settings("prod", database_url=SQLITE, secret_key=strong, **overrides)
        return {spec.name for spec in load_modules(settings)}

    assert prod() == set(local_modules()) - {"example", "blog"}
    assert prod(modules=["*", "example"]) == set(local_modules()) - {"blog"}
    assert prod(modules_disabled=[]) == set(local_modules())


def test_an_explicit_list_loads_in_dependency_order() -> None:
    assert names(modules=["scheduler", "files", "system"]) == ["system", "scheduler", "files"]


def test_a_missing_dependency_or_module_is_one_readable_error() -> None:
    with pytest.raises(ConfigError, match="scheduler needs system enabled too"):
        names(modules=["scheduler"])
    with pytest.raises(ConfigError, match="no module named 'nosuch'"):
        names(modules=["*", "nosuch"])


def test_disabling_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODULES_DISABLED", "scheduler,example,blog")
    assert "scheduler" not in names()


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[str]:
    """An installed distribution that declares a module in the entry-point group."""
    package = tmp_path / "acme_widgets"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from pydantic_settings import BaseSettings, SettingsConfigDict

            from app.core.modules import ModuleSpec


            class WidgetSettings(BaseSettings):
                model_config = SettingsConfigDict(env_prefix="WIDGETS_")

                colour: str = "blue"
                per_page: int = 10


            module = ModuleSpec(name="widgets", depends_on=("system",), settings=WidgetSettings)
            """
        )
    )
    dist = tmp_path / "acme_widgets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-widgets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[fastapiadmin.modules]\nwidgets = acme_widgets\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "acme_widgets"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("acme_widgets", None)


def test_installed_plugins_are_enabled_through_the_entry_point_group(plugin: str) -> None:
    settings = load_settings("test", database_url=SQLITE)
    assert f"{plugin}:module" in module_names(settings)
    assert "widgets" in [spec.name for spec in load_modules(settings)]
    assert "widgets" not in names(module_plugins=False)
    assert "widgets" not in names(modules_disabled=["widgets", "example", "blog"])


def test_module_settings_come_from_the_environment_with_their_prefix(
    plugin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings("test", database_url=SQLITE)
    spec = next(s for s in load_modules(settings) if s.name == "widgets")
    monkeypatch.setenv("WIDGETS_COLOUR", "green")
    loaded = load_module_settings(spec, settings)
    assert loaded is not None
    assert loaded.model_dump() == {"colour": "green", "per_page": 10}

    class State:
        module_settings = {spec.settings: loaded}

    assert spec.settings is not None
    assert module_settings(State, spec.settings) is loaded
    monkeypatch.setenv("WIDGETS_PER_PAGE", "many")
    with pytest.raises(ConfigError, match="invalid setting WIDGETS_PER_PAGE"):
        load_module_settings(spec, settings)


def test_module_settings_of_a_disabled_module_are_not_found() -> None:
    class Other(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="OTHER_")

    class State:
        module_settings: dict[type[BaseSettings], BaseSettings] = {}

    with pytest.raises(LookupError):
        module_settings(State, Other)


def test_every_enabled_module_declares_itself_completely() -> None:
    """Each built-in module names its permission codes; menus point at declared codes."""
    from app.core.access import registry

    settings = load_settings("test", database_url=SQLITE, modules_disabled=[])
    specs = load_modules(settings)  # declares their codes
    codes = {permission.code for permission in registry.all()}
    for spec in specs:
        assert isinstance(spec, ModuleSpec)
        if spec.routers:
            assert spec.permissions, f"{spec.name} declares no permissions module"
        stack = list(spec.menus)
        while stack:
            menu = stack.pop()
            if menu.get("permission"):
                assert menu["permission"] in codes, (spec.name, menu["permission"])
            stack += menu.get("children", [])


def test_enabled_is_decided_once_with_star_plugins_and_disabled_applied() -> None:
    """`python main.py worker` used to read MODULES unexpanded (`*`) and refuse to start;
    the server, the worker, `init` and the startup log all ask `enabled_module_names`."""
    from app.core.config import load_settings
    from app.core.modules import enabled_module_names, is_enabled

    settings = load_settings("test", modules=["*"], modules_disabled=["example", "blog"])
    names = enabled_module_names(settings)
    assert {"system", "scheduler"} <= set(names)
    assert "*" not in names and "example" not in names and "blog" not in names
    assert is_enabled(settings, "scheduler")
    assert not is_enabled(settings, "blog")
