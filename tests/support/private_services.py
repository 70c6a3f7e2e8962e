"""PostgreSQL, MariaDB and Redis servers of the tests' own, on free loopback ports, that a test
may really stop, restart, freeze or stall (docs/security-checklist.md §5.2). The shared services on
5432 /
6379 / 3306 are never touched.

    def test_x(private_postgres: PrivatePostgres, private_redis: PrivateRedis) -> None:
        private_postgres.stop("fast"); private_postgres.start()
        private_postgres.freeze(); private_postgres.thaw()     # SIGSTOP / SIGCONT
        private_redis.pause(5000)                              # CLIENT PAUSE 5000 ALL
        private_redis.stop(); private_redis.start()

All three are a `PrivateServer`: a server process with its files in a fresh folder under /tmp,
on a free port, with `start()`, `stop()`, `freeze()` / `thaw()` (SIGSTOP / SIGCONT to the
server and its child processes), `running` and `destroy()`; `ensure_running(server)` undoes
whatever fault a test left. The fixtures skip (with the reason) when the server binaries are
missing. Teardown kills the servers and removes their files, whatever state the test left them
in. To use them, import the fixture functions into the test module or a conftest (the names
differ from the fixture names, so the test's arguments do not shadow the import):

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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, TypeVar

import pytest
import redis

from tests.support.startup import shared_fixture
from tests.support.tcp_proxy import free_port
from tests.support.timing import scaled

StopMode = Literal["smart", "fast", "immediate"]
_START_TIMEOUT = scaled(30)  # seconds; stretched on a busy machine (timing.py)


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


# ------------------------------------------------------------------------ the base --


class PrivateServer:
    """A server process of the tests' own: its files in `root` (a fresh folder; `data` and
    `server.log` inside), listening on 127.0.0.1:`port` (a free port, kept across restarts).

    Subclasses say how to create (`init`), start and stop the server. This class knows the
    server's processes: `pid` (by default the process `_spawn` started), `running`,
    `freeze()` / `thaw()` and `destroy()`. `run_as` is the OS user the server runs as when the
    tests run as root (None: as ourselves).
    """

    kind = "server"  # for messages: "the private <kind> did not start"

    def __init__(self, root: Path, run_as: str | None = None) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.run_as = run_as
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    # -- to implement --

    def init(self) -> None:
        """Create the server's files (nothing by default)."""

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server and wait until it is gone."""
        raise NotImplementedError

    def _halt(self) -> None:
        """The quickest way down that still lets the server clean up (for `destroy`); what is
        left afterwards is killed."""

    # -- processes --

    @property
    def pid(self) -> int | None:
        """The server's main process while it runs."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    @property
    def running(self) -> bool:
        pid = self.pid
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def _spawn(self, args: Sequence[str]) -> None:
        """Start `args` as the server process (`pid`), its output discarded."""
        self.process = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.root,
        )

    def _wait_until_up(self, answers: Callable[[], bool] = lambda: True) -> None:
        """Wait until the port accepts connections and `answers()` is true, at most
        `_START_TIMEOUT` seconds; fail early, with the log, when the process exits."""
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline and (self.process is None or self.running):
            if _wait_for_port(self.port, 0.2) and answers():
                return
        raise RuntimeError(f"the private {self.kind} did not start:\n{self.log_tail()}")

    def _end(self, *, kill: bool) -> None:
        """End the spawned process (SIGKILL, or SIGTERM waited for up to `_START_TIMEOUT`
        seconds before SIGKILL) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(_START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def _signal_all(self, sig: signal.Signals) -> None:
        pid = self.pid
        if pid is None:
            raise RuntimeError(f"the private {self.kind} is not running")
        # The main process first on STOP (so it spawns nothing new meanwhile), last on CONT.
        order = [pid, *_children(pid)] if sig == signal.SIGSTOP else [*_children(pid), pid]
        for target in order:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)

    def freeze(self) -> None:
        """SIGSTOP the server and its child processes: connections stay open, nothing
        answers."""
        self._signal_all(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT everything `freeze` stopped."""
        if self.frozen:
            self._signal_all(signal.SIGCONT)
            self.frozen = False

    def destroy(self) -> None:
        """Kill the server whatever its state, and remove its files."""
        if self.frozen:
            with contextlib.suppress(RuntimeError):
                self.thaw()
        if self.running:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._halt()
        pid = self.pid
        if pid is not None and self.running:
            for target in [pid, *_children(pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, signal.SIGKILL)
        self._end(kill=True)
        shutil.rmtree(self.root, ignore_errors=True)


S = TypeVar("S", bound=PrivateServer)


def _server_root(prefix: str, user: str | None) -> Path:
    """A fresh folder for a server's files. Not under pytest's tmp_path: that folder is private
    to root, and the server user must reach it; also unix socket paths must stay short
    (< 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    return root


def _launch(server: S) -> S:
    """`init` and `start` the server; on any failure destroy it and re-raise."""
    atexit.register(server.destroy)  # in case the test run is interrupted before teardown
    try:
        server.init()
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


def _serve(server: S) -> Iterator[S]:
    """A fixture's body: yield the server, destroy it afterwards."""
    try:
        yield server
    finally:
        server.destroy()


def ensure_running(server: PrivateServer) -> None:
    """Undo whatever fault a test left on `server` (thaw, start)."""
    server.thaw()
    if not server.running:
        server.start()


def _os_user(name: str) -> str | Literal[False]:
    """`name` when that OS user exists, else False."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return name


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


class PrivatePostgres(PrivateServer):
    """A throwaway PostgreSQL cluster: `initdb` into a temporary folder, trust authentication,
    listening on 127.0.0.1:<free port> and a unix socket inside that folder, fsync off.

    When the tests run as root (initdb refuses root), the server programs run as the `postgres`
    OS user through `runuser`, and the folder belongs to that user. `pg_ctl` starts the
    postmaster in the background: its pid comes from `postmaster.pid`.
    """

    kind = "PostgreSQL"

    def __init__(self, bindir: Path, root: Path, run_as: str | None) -> None:
        super().__init__(root, run_as)
        self.bindir = bindir

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
            raise RuntimeError(f"{what} failed: {result.stderr.strip()[-1000:]}\n{self.log_tail()}")

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
    def pid(self) -> int | None:
        return self.postmaster_pid

    def start(self) -> None:
        """`pg_ctl start -w`: start the server and wait until it accepts connections."""
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

    def _halt(self) -> None:
        self.stop("immediate")

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


def _postgres_user() -> str | Literal[False] | None:
    """None: run the server programs as ourselves; a name: run them as that user via runuser;
    False: cannot run them at all (root without a `postgres` user or runuser)."""
    if os.geteuid() != 0:
        return None
    return _os_user("postgres") if shutil.which("runuser") else False


def start_private_postgres() -> PrivatePostgres:
    """Create and start a private cluster, or skip the test saying what is missing."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, psql) are not installed")
    user = _postgres_user()
    if user is False:
        pytest.skip("running as root needs a `postgres` OS user and runuser for initdb")
    return _launch(PrivatePostgres(bindir, _server_root("fa-pg-", user), user))


@shared_fixture("a private PostgreSQL cluster", scope="module", name="private_postgres")
def private_postgres_fixture() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster (`PrivatePostgres`) shared by the tests of one module.

    Tests that stop or freeze it must leave it running (see `ensure_running`).
    """
    yield from _serve(start_private_postgres())


# ------------------------------------------------------------------------------ Redis --


class PrivateRedis(PrivateServer):
    """A redis-server of the test's own, on its own port, that the test may really stop
    (no persistence: a restart starts empty)."""

    kind = "Redis"

    def __init__(self, binary: str, root: Path) -> None:
        super().__init__(root)
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._spawn(
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
                str(self.root),
            ]
        )
        self._wait_until_up()

    def stop(self) -> None:
        """Kill the server (like a crash: nothing is saved)."""
        self._end(kill=True)

    def pause(self, ms: int) -> None:
        """`CLIENT PAUSE <ms> ALL`: every client's commands stall for `ms` milliseconds; the
        connections stay open and new ones are accepted."""
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5) as client:
            client.execute_command("CLIENT", "PAUSE", ms, "ALL")


@pytest.fixture(name="private_redis")
def private_redis_fixture() -> Iterator[PrivateRedis]:
    """A private redis-server (`PrivateRedis`) for one test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    yield from _serve(_launch(PrivateRedis(binary, _server_root("fa-redis-", None))))


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


class PrivateMariaDB(PrivateServer):
    """A throwaway MariaDB server: `mariadb-install-db` into a temporary folder (root signs in
    without a password over TCP), `mariadbd` on 127.0.0.1:<free port> with its unix socket in
    that folder, no binary log, relaxed flushing.

    Every program gets `--no-defaults`, so the host's /etc/mysql configuration is never read.
    When the tests run as root (mariadbd refuses root), the server switches to the `mysql` OS
    user itself (`--user=mysql`) and the folder belongs to that user. mariadbd is one process
    (threads), so `freeze()` stops all of it.

        server.stop(); server.start()        # clean shutdown (like `mariadb-admin shutdown`)
        server.freeze(); server.thaw()       # SIGSTOP / SIGCONT
        server.sql("SET GLOBAL wait_timeout = 2")
        server.sql("KILL 42")
    """

    kind = "MariaDB"

    def __init__(self, programs: dict[str, str], root: Path, run_as: str | None) -> None:
        super().__init__(root, run_as)
        self.programs = programs
        self.socket = root / "mariadb.sock"

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

    def _answers(self) -> bool:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.sql("SELECT 1")
            return True
        return False

    def start(self) -> None:
        """Start the server and wait until it answers a query."""
        self._spawn(
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
            ]
        )
        self._wait_until_up(self._answers)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM, what `mariadb-admin shutdown` asks for), waited for."""
        self._end(kill=False)

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


def _mariadb_user() -> str | Literal[False] | None:
    """None: run mariadbd as ourselves; a name: as root, let it switch to that user; False:
    root without a `mysql` OS user."""
    return None if os.geteuid() != 0 else _os_user("mysql")


def start_private_mariadb() -> PrivateMariaDB:
    """Create and start a private MariaDB server, or skip the test saying what is missing."""
    programs = mariadb_programs()
    if programs is None:
        pytest.skip("MariaDB binaries (mariadbd, mariadb-install-db, mariadb) are not installed")
    user = _mariadb_user()
    if user is False:
        pytest.skip("running as root needs a `mysql` OS user for mariadbd")
    return _launch(PrivateMariaDB(programs, _server_root("fa-my-", user), user))


@shared_fixture("a private MariaDB server", scope="module", name="private_mariadb")
def private_mariadb_fixture() -> Iterator[PrivateMariaDB]:
    """A private MariaDB server (`PrivateMariaDB`) shared by the tests of one module.

    Tests that stop or freeze it must leave it running (see `ensure_running`).
    """
    yield from _serve(start_private_mariadb())
