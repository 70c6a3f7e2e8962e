"""PostgreSQL and Redis servers of the tests' own, on free loopback ports, that a test may
really stop, restart, freeze or stall (SECURITY.md §5.2). The shared services on 5432 / 6379 /
3306 are never touched.

    def test_x(private_postgres: PrivatePostgres, private_redis: PrivateRedis) -> None:
        private_postgres.stop("fast"); private_postgres.start()
        private_postgres.freeze(); private_postgres.thaw()     # SIGSTOP / SIGCONT
        private_redis.pause(5000)                              # CLIENT PAUSE 5000 ALL
        private_redis.stop(); private_redis.start()

Both fixtures skip (with the reason) when the server binaries are missing. Teardown kills the
servers and removes their files, whatever state the test left them in. To use them, import the
fixture functions into the test module or a conftest (the names differ from the fixture names,
so the test's arguments do not shadow the import):

    from tests.support.private_services import private_redis_fixture  # noqa: F401
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import redis

from tests.support.tcp_proxy import free_port

StopMode = Literal["smart", "fast", "immediate"]
_START_TIMEOUT = 30


def _wait_for_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), 0.2),
        ):
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------- PostgreSQL --


def postgres_bindir() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `psql`: from PATH, else the newest
    /usr/lib/postgresql/<version>/bin."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        bindir = Path(os.path.realpath(initdb)).parent
        if (bindir / "pg_ctl").exists() and (bindir / "psql").exists():
            return bindir
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()],
    )
    for candidate in reversed(candidates):
        bindir = Path(candidate)
        if all((bindir / name).exists() for name in ("initdb", "pg_ctl", "psql")):
            return bindir
    return None


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc; PostgreSQL backends are children of the
    postmaster)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may contain spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: `initdb` into a temporary folder, trust authentication,
    listening on 127.0.0.1:<free port> and a unix socket inside that folder, fsync off.

    When the tests run as root (initdb refuses root), the server programs run as the `postgres`
    OS user through `runuser`, and the folder belongs to that user.
    """

    def __init__(self, bindir: Path, root: Path, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.run_as = run_as
        self.frozen = False

    def url(self, database: str = "postgres") -> str:
        """An asyncpg URL as the app accepts it: postgresql+asyncpg://postgres@host:port/db."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return subprocess.run(
            [*prefix, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{what} failed: {result.stderr.strip()[-1000:]}\n{log}")

    def init(self) -> None:
        result = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        self._check(result, "initdb")
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "60",
            "shared_buffers": "32MB",
            "logging_collector": "off",
        }
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# tests/support/private_services.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    @property
    def postmaster_pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return int(first) if first.strip().isdigit() else None

    @property
    def running(self) -> bool:
        pid = self.postmaster_pid
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        result = self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(_START_TIMEOUT),
            timeout=_START_TIMEOUT + 10,
        )
        self._check(result, "pg_ctl start")

    def stop(self, mode: StopMode = "fast") -> None:
        """`pg_ctl stop -m <mode>` and wait until the server is gone."""
        result = self._run(
            str(self.bindir / "pg_ctl"),
            "stop",
            "-D",
            str(self.data),
            "-m",
            mode,
            "-w",
            "-t",
            str(_START_TIMEOUT),
            timeout=_START_TIMEOUT + 10,
        )
        self._check(result, f"pg_ctl stop -m {mode}")

    def _signal_all(self, sig: signal.Signals) -> None:
        pid = self.postmaster_pid
        if pid is None:
            raise RuntimeError("the private PostgreSQL is not running")
        # Postmaster first on STOP (so it spawns nothing new meanwhile), last on CONT.
        order = [pid, *_children(pid)] if sig == signal.SIGSTOP else [*_children(pid), pid]
        for target in order:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every backend: connections stay open, nothing answers."""
        self._signal_all(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT everything `freeze` stopped."""
        if self.frozen:
            self._signal_all(signal.SIGCONT)
            self.frozen = False

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql over TCP and return its unaligned, tuples-only output."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create database `name` and return its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        """Kill the server whatever its state, and remove its files."""
        if self.frozen:
            with contextlib.suppress(RuntimeError):
                self.thaw()
        if self.running:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        pid = self.postmaster_pid
        if pid is not None and self.running:
            for target in [pid, *_children(pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def _postgres_user() -> str | Literal[False] | None:
    """None: run the server programs as ourselves; a name: run them as that user via runuser;
    False: cannot run them at all (root without a `postgres` user or runuser)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return "postgres" if shutil.which("runuser") else False


def start_private_postgres() -> PrivatePostgres:
    """Create and start a private cluster, or skip the test saying what is missing."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, psql) are not installed")
    user = _postgres_user()
    if user is False:
        pytest.skip("running as root needs a `postgres` OS user and runuser for initdb")
    # Not under pytest's tmp_path: that folder is private to root, and the server user must
    # reach its data directory; also unix socket paths must stay short (< 108 bytes).
    root = Path(tempfile.mkdtemp(prefix="fa-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PrivatePostgres(bindir, root, user)
    atexit.register(server.destroy)  # in case the test run is interrupted before teardown
    try:
        server.init()
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


@pytest.fixture(scope="module", name="private_postgres")
def private_postgres_fixture() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster shared by the tests of one module.

    Tests that stop or freeze it must leave it running (see `ensure_running`).
    """
    server = start_private_postgres()
    try:
        yield server
    finally:
        server.destroy()


def ensure_running(server: PrivatePostgres) -> None:
    """Undo whatever fault a test left on `server` (thaw, start)."""
    server.thaw()
    if not server.running:
        server.start()


# ------------------------------------------------------------------------------ Redis --


class PrivateRedis:
    """A redis-server of the test's own, on its own port, that the test may really stop."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not _wait_for_port(self.port, 10):
            pytest.fail("private redis-server did not start")

    def stop(self) -> None:
        """Kill the server (like a crash: nothing is saved)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self, ms: int) -> None:
        """`CLIENT PAUSE <ms> ALL`: every client's commands stall for `ms` milliseconds; the
        connections stay open and new ones are accepted."""
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5) as client:
            client.execute_command("CLIENT", "PAUSE", ms, "ALL")


@pytest.fixture(name="private_redis")
def private_redis_fixture(tmp_path: Path) -> Iterator[PrivateRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------- MariaDB --


def mariadb_programs() -> dict[str, str] | None:
    """Paths of the MariaDB server, its installer, the client and the dump tool (`dump` may be
    missing: only backup tests need it), or None when the server cannot be run."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])

    def first(*names: str) -> str | None:
        return next((p for n in names if (p := shutil.which(n, path=search))), None)

    found = {
        "server": first("mariadbd", "mysqld"),
        "install": first("mariadb-install-db", "mysql_install_db"),
        "client": first("mariadb", "mysql"),
        "dump": first("mariadb-dump", "mysqldump"),
    }
    if not (found["server"] and found["install"] and found["client"]):
        return None
    return {name: path for name, path in found.items() if path}


class PrivateMariaDB:
    """A throwaway MariaDB server: `mariadb-install-db` into a temporary folder (root signs in
    without a password over TCP), `mariadbd` on 127.0.0.1:<free port> with its unix socket in
    that folder, no binary log, relaxed flushing.

    Every program gets `--no-defaults`, so the host's /etc/mysql configuration is never read.
    When the tests run as root (mariadbd refuses root), the server switches to the `mysql` OS
    user itself (`--user=mysql`) and the folder belongs to that user.

        server.stop(); server.start()        # clean shutdown (like `mariadb-admin shutdown`)
        server.sql("SET GLOBAL wait_timeout = 2")
        server.sql("KILL 42")
    """

    def __init__(self, programs: dict[str, str], root: Path, run_as: str | None) -> None:
        self.programs = programs
        self.root = root
        self.data = root / "data"
        self.socket = root / "mariadb.sock"
        self.log = root / "server.log"
        self.port = free_port()
        self.run_as = run_as
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "mysql") -> str:
        """An asyncmy URL as the app accepts it: mysql+asyncmy://root@host:port/db."""
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/{database}"

    def _user_args(self) -> list[str]:
        return [f"--user={self.run_as}"] if self.run_as else []

    def init(self) -> None:
        result = subprocess.run(
            [
                self.programs["install"],
                "--no-defaults",
                f"--datadir={self.data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *self._user_args(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {result.stdout[-1000:]}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers a query."""
        self.process = subprocess.Popen(
            [
                self.programs["server"],
                "--no-defaults",
                f"--datadir={self.data}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket}",
                f"--pid-file={self.root / 'mariadbd.pid'}",
                f"--log-error={self.log}",
                "--skip-log-bin",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=60",
                *self._user_args(),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.root,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                break
            if _wait_for_port(self.port, 0.2):
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self.sql("SELECT 1")
                    return
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise RuntimeError(f"the private MariaDB did not start:\n{log}")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM, what `mariadb-admin shutdown` asks for), waited for."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def sql(self, statement: str, database: str | None = None) -> str:
        """Run `statement` as root with the `mariadb` client over TCP; its tab-separated output
        without column names."""
        result = subprocess.run(
            [
                self.programs["client"],
                "--no-defaults",
                "-h",
                "127.0.0.1",
                "-P",
                str(self.port),
                "-u",
                "root",
                "-N",
                "-B",
                "-e",
                statement,
                *([database] if database else []),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create database `name` (utf8mb4, like a deployment) and return its URL."""
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)

    def destroy(self) -> None:
        """Kill the server whatever its state, and remove its files."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


def _mariadb_user() -> str | Literal[False] | None:
    """None: run mariadbd as ourselves; a name: as root, let it switch to that user; False:
    root without a `mysql` OS user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("mysql")
    except KeyError:
        return False
    return "mysql"


def start_private_mariadb() -> PrivateMariaDB:
    """Create and start a private MariaDB server, or skip the test saying what is missing."""
    programs = mariadb_programs()
    if programs is None:
        pytest.skip("MariaDB binaries (mariadbd, mariadb-install-db, mariadb) are not installed")
    user = _mariadb_user()
    if user is False:
        pytest.skip("running as root needs a `mysql` OS user for mariadbd")
    # Short path (unix socket < 108 bytes) that the server user can reach.
    root = Path(tempfile.mkdtemp(prefix="fa-my-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PrivateMariaDB(programs, root, user)
    atexit.register(server.destroy)  # in case the test run is interrupted before teardown
    try:
        server.init()
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


@pytest.fixture(scope="module", name="private_mariadb")
def private_mariadb_fixture() -> Iterator[PrivateMariaDB]:
    """A private MariaDB server shared by the tests of one module.

    Tests that stop it must leave it running (`if not server.running: server.start()`).
    """
    server = start_private_mariadb()
    try:
        yield server
    finally:
        server.destroy()
