"""Server status: what the operator's server page shows. Sizes are bytes, percentages 0-100."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CpuRead(BaseModel):
    count: int | None = Field(description="Logical CPUs (None if unknown)")
    physical_count: int | None = Field(description="Physical cores (None if unknown)")
    percent: float = Field(description="System-wide use since the previous sample")


class MemoryRead(BaseModel):
    total: int
    used: int
    available: int
    percent: float


class SwapRead(BaseModel):
    total: int
    used: int
    free: int
    percent: float


class DiskRead(BaseModel):
    mountpoint: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float


class LoadAverageRead(BaseModel):
    load_1m: float
    load_5m: float
    load_15m: float


class HostRead(BaseModel):
    hostname: str
    os: str = Field(description="Operating system, e.g. Linux")
    os_release: str
    platform: str = Field(description="Platform string, e.g. Linux-6.8.0-x86_64-with-glibc2.39")
    architecture: str = Field(description="Machine type, e.g. x86_64")
    boot_time: datetime
    uptime_seconds: int


class PythonRead(BaseModel):
    version: str
    implementation: str = Field(description="CPython, PyPy, ...")


class ProcessRead(BaseModel):
    pid: int
    started_at: datetime
    uptime_seconds: int
    rss: int = Field(description="Resident memory, bytes")
    threads: int
    open_fds: int | None = Field(description="Open file descriptors (None where unsupported)")
    cpu_percent: float = Field(
        description="Use since the previous sample; above 100 when on several CPUs"
    )


class ServerRead(BaseModel):
    """One sample of the host and of the app process that answered (one of N in scale shape)."""

    sampled_at: datetime
    host: HostRead
    cpu: CpuRead
    memory: MemoryRead
    swap: SwapRead
    disks: list[DiskRead]
    load_average: LoadAverageRead | None = Field(description="None where unsupported")
    python: PythonRead
    process: ProcessRead
