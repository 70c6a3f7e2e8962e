"""Server status from psutil, sampled in a worker thread.

Every psutil call reads `/proc` (or the OS equivalent) synchronously, so one sample is taken
in one `anyio.to_thread.run_sync` call and the event loop never waits on it. CPU percentages
use psutil's non-blocking form (`interval=None`): the use since the previous sample, never a
sleeping interval. The baseline is taken when the app starts (`server_lifespan`), so the first
request already gets a meaningful figure.

Disks: every mounted partition except pseudo filesystems (proc, tmpfs, cgroup, ...), network
filesystems (`statvfs` on an unreachable NFS or SMB server blocks the thread indefinitely), file
bind mounts (a container's `/etc/hosts`) and any mount whose usage cannot be read.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio.to_thread
import psutil  # type: ignore[import-untyped]  # psutil ships no type information
from fastapi import FastAPI

from app.modules.monitor.server.schemas import (
    CpuRead,
    DiskRead,
    HostRead,
    LoadAverageRead,
    MemoryRead,
    ProcessRead,
    PythonRead,
    ServerRead,
    SwapRead,
)

PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devfs",
        "devpts", "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc",
        "procfs", "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tmpfs",
        "tracefs", "fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal",
    }
)  # fmt: skip
NETWORK_FILESYSTEMS = frozenset(
    {
        "9p", "afs", "ceph", "cifs", "fuse.sshfs", "fuse.s3fs", "glusterfs", "lustre", "ncpfs",
        "nfs", "nfs4", "smb", "smb2", "smb3", "smbfs", "virtiofs",
    }
)  # fmt: skip
MAX_DISKS = 64


class _Sampler:
    """Holds psutil's CPU baselines for this process; one sample at a time.

    `cpu_percent(interval=None)` compares with the previous call, so the same `Process` object
    must be reused; the lock keeps two concurrent requests from splitting one interval.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: psutil.Process | None = None

    def _current_process(self) -> psutil.Process:
        # A forked worker must not read its parent's baseline.
        if self._process is None or self._process.pid != os.getpid():
            self._process = psutil.Process()
        return self._process

    def prime(self) -> None:
        """Take the CPU baselines (the first non-blocking reading has nothing to compare)."""
        with self._lock:
            psutil.cpu_percent(interval=None)
            self._current_process().cpu_percent(interval=None)

    def sample(self) -> ServerRead:
        with self._lock:
            return _sample(self._current_process())


_sampler = _Sampler()


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _disks() -> list[DiskRead]:
    disks: list[DiskRead] = []
    seen: set[str] = set()
    for partition in psutil.disk_partitions(all=True):
        fstype = str(partition.fstype)
        mountpoint = str(partition.mountpoint)
        if (
            fstype in PSEUDO_FILESYSTEMS
            or fstype in NETWORK_FILESYSTEMS
            or mountpoint in seen
            or not os.path.isdir(mountpoint)
        ):
            continue
        try:
            usage = psutil.disk_usage(mountpoint)
        except OSError:  # permission denied, vanished, not a filesystem we can stat
            continue
        if int(usage.total) == 0:
            continue
        seen.add(mountpoint)
        disks.append(
            DiskRead(
                mountpoint=mountpoint,
                fstype=fstype,
                total=int(usage.total),
                used=int(usage.used),
                free=int(usage.free),
                percent=float(usage.percent),
            )
        )
        if len(disks) >= MAX_DISKS:
            break
    return disks


def _load_average() -> LoadAverageRead | None:
    try:
        one, five, fifteen = psutil.getloadavg()
    except (OSError, AttributeError, RuntimeError):
        return None
    return LoadAverageRead(load_1m=float(one), load_5m=float(five), load_15m=float(fifteen))


def _open_fds(process: psutil.Process) -> int | None:
    try:
        return int(process.num_fds())
    except (AttributeError, psutil.Error):  # num_fds does not exist on Windows
        return None


def _sample(process: psutil.Process) -> ServerRead:
    now = time.time()
    boot_time = float(psutil.boot_time())
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    logical = psutil.cpu_count(logical=True)
    physical = psutil.cpu_count(logical=False)
    with process.oneshot():
        created = float(process.create_time())
        rss = int(process.memory_info().rss)
        threads = int(process.num_threads())
        open_fds = _open_fds(process)
        process_cpu = float(process.cpu_percent(interval=None))
    return ServerRead(
        sampled_at=_utc(now),
        host=HostRead(
            hostname=socket.gethostname(),
            os=platform.system(),
            os_release=platform.release(),
            platform=platform.platform(),
            architecture=platform.machine(),
            boot_time=_utc(boot_time),
            uptime_seconds=max(0, int(now - boot_time)),
        ),
        cpu=CpuRead(
            count=None if logical is None else int(logical),
            physical_count=None if physical is None else int(physical),
            percent=float(psutil.cpu_percent(interval=None)),
        ),
        memory=MemoryRead(
            total=int(memory.total),
            used=int(memory.used),
            available=int(memory.available),
            percent=float(memory.percent),
        ),
        swap=SwapRead(
            total=int(swap.total),
            used=int(swap.used),
            free=int(swap.free),
            percent=float(swap.percent),
        ),
        disks=_disks(),
        load_average=_load_average(),
        python=PythonRead(
            version=platform.python_version(),
            implementation=platform.python_implementation(),
        ),
        process=ProcessRead(
            pid=int(process.pid),
            started_at=_utc(created),
            uptime_seconds=max(0, int(now - created)),
            rss=rss,
            threads=threads,
            open_fds=open_fds,
            cpu_percent=process_cpu,
        ),
    )


async def server_status() -> ServerRead:
    """One sample of the host and this process, taken off the event loop."""
    return await anyio.to_thread.run_sync(_sampler.sample)


@asynccontextmanager
async def server_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Take the CPU baselines at startup, so the first status request is meaningful."""
    await anyio.to_thread.run_sync(_sampler.prime)
    yield
