"""Server status (`GET /api/v1/monitor/server`): shape and sane values, sampled in a worker
thread with non-blocking CPU readings, pseudo/network/unreadable mounts skipped, and access
control (docs/security-checklist.md §0 #1 and #2, ASVS 8.2.1)."""

from __future__ import annotations

import os
import platform
import socket
import threading
from collections import namedtuple
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from fastapi import FastAPI

from app.modules.monitor.permissions import CACHE_LIST, SERVER_READ
from app.modules.monitor.server import service
from tests.support.identity import holder_headers, superuser_headers

URL = "/api/v1/monitor/server"


async def test_server_status_shape_and_values(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.get(URL, headers=await holder_headers(app, [SERVER_READ]))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {
        "sampled_at",
        "host",
        "cpu",
        "memory",
        "swap",
        "disks",
        "load_average",
        "python",
        "process",
    }
    sampled_at = datetime.fromisoformat(data["sampled_at"])
    assert sampled_at.tzinfo is not None

    host = data["host"]
    assert host["hostname"] == socket.gethostname()
    assert host["os"] == platform.system()
    assert host["architecture"] == platform.machine()
    assert datetime.fromisoformat(host["boot_time"]) < sampled_at
    assert host["uptime_seconds"] > 0

    cpu = data["cpu"]
    assert cpu["count"] == psutil.cpu_count() and cpu["count"] >= 1
    assert 0.0 <= cpu["percent"] <= 100.0

    memory = data["memory"]
    assert memory["total"] > 0
    assert 0 < memory["used"] <= memory["total"]
    assert 0 < memory["available"] <= memory["total"]
    assert 0.0 <= memory["percent"] <= 100.0
    swap = data["swap"]
    assert 0 <= swap["used"] <= swap["total"]
    assert 0.0 <= swap["percent"] <= 100.0

    assert data["disks"], "at least the root filesystem"
    mountpoints = [disk["mountpoint"] for disk in data["disks"]]
    assert len(mountpoints) == len(set(mountpoints))
    for disk in data["disks"]:
        assert disk["fstype"] not in service.PSEUDO_FILESYSTEMS
        assert 0 <= disk["used"] <= disk["total"]
        assert 0 <= disk["free"] <= disk["total"]
        assert 0.0 <= disk["percent"] <= 100.0

    if hasattr(os, "getloadavg"):
        load = data["load_average"]
        assert load is not None
        assert all(load[k] >= 0 for k in ("load_1m", "load_5m", "load_15m"))

    assert data["python"] == {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
    }

    process = data["process"]
    assert process["pid"] == os.getpid()  # the ASGI transport runs the app in this process
    assert datetime.fromisoformat(process["started_at"]) <= sampled_at
    assert process["uptime_seconds"] >= 0
    assert process["rss"] > 10 * 1024 * 1024
    assert process["threads"] >= 1
    if os.name == "posix":
        assert process["open_fds"] >= 3
    assert process["cpu_percent"] >= 0.0


async def test_sampled_off_the_event_loop_without_sleeping(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every psutil call runs in a worker thread; CPU readings use `interval=None`."""
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    intervals: list[object] = []
    real_memory, real_cpu = psutil.virtual_memory, psutil.cpu_percent

    def virtual_memory() -> Any:
        threads.add(threading.get_ident())
        return real_memory()

    def cpu_percent(interval: object = "missing", percpu: bool = False) -> Any:
        threads.add(threading.get_ident())
        intervals.append(interval)
        return real_cpu(interval=None, percpu=percpu)

    monkeypatch.setattr(psutil, "virtual_memory", virtual_memory)
    monkeypatch.setattr(psutil, "cpu_percent", cpu_percent)
    response = await client.get(URL, headers=await superuser_headers(app))
    assert response.status_code == 200
    assert threads and loop_thread not in threads
    assert intervals == [None]


_Partition = namedtuple("_Partition", "device mountpoint fstype opts")


def test_disks_skip_pseudo_network_file_and_unreadable_mounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, broken, nfs = tmp_path / "real", tmp_path / "broken", tmp_path / "nfs"
    for directory in (real, broken, nfs):
        directory.mkdir()
    bind_file = tmp_path / "hosts"
    bind_file.write_text("127.0.0.1 localhost\n")
    partitions = [
        _Partition("proc", "/proc", "proc", "rw"),
        _Partition("tmpfs", str(tmp_path), "tmpfs", "rw"),
        _Partition("server:/export", str(nfs), "nfs4", "rw"),
        _Partition("/dev/sda1", str(bind_file), "ext4", "rw"),  # a container's /etc/hosts
        _Partition("/dev/sdb1", str(broken), "ext4", "rw"),
        _Partition("/dev/sda1", str(real), "ext4", "rw"),
        _Partition("/dev/sda1", str(real), "ext4", "rw"),  # listed twice
    ]
    real_usage = psutil.disk_usage
    stat_calls: list[str] = []

    def disk_usage(path: str) -> Any:
        stat_calls.append(path)
        if path == str(broken):
            raise PermissionError(13, "Permission denied")
        return real_usage(path)

    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: partitions)
    monkeypatch.setattr(psutil, "disk_usage", disk_usage)

    disks = service._disks()

    assert [(d.mountpoint, d.fstype) for d in disks] == [(str(real), "ext4")]
    assert disks[0].total > 0
    assert str(nfs) not in stat_calls, "a network filesystem must never be stat'ed"


async def test_server_status_needs_its_permission(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401
    other = await holder_headers(app, [CACHE_LIST])
    denied = await client.get(URL, headers=other)
    assert denied.status_code == 403
    assert denied.json()["data"] is None
