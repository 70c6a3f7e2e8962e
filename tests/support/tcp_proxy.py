"""Loopback TCP helpers that tests put between the app and a real server to simulate faults.

`TcpProxy.stop()` cuts every connection and refuses new ones (the server looks stopped);
`freeze()` keeps connections open but forwards nothing (the server looks stalled); `resume()`
serves again on the same port, so the client must recover on its own, without a restart.
`StalledServer` accepts connections and never answers (a hung server from the start).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `host:port`."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    async def start(self) -> TcpProxy:
        # The first start picks a free port; later starts reuse it, like a restarted server.
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        await _close_writer(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            await _close_writer(writer)
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def stop(self) -> None:
        """Stop listening and cut every open connection, like a server going down."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def freeze(self) -> None:
        """Keep connections open (and accept new ones) but forward nothing."""
        self._flowing.clear()

    async def resume(self) -> None:
        """Forward again; listen again on the same port if stopped."""
        if self._server is None:
            await self.stop()
            await self.start()
        self._flowing.set()


class StalledServer:
    """Accepts TCP connections and reads forever without answering: a hung server."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> StalledServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass
        self._writers.discard(writer)
        await _close_writer(writer)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            await _close_writer(writer)


def free_port() -> int:
    """A TCP port that was free a moment ago (for servers started in a subprocess)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
