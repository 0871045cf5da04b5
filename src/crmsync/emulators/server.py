"""Runs emulator apps under uvicorn: several on one event loop (the CLI), or one in a thread (tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from crmsync.emulators.core.app import InjectedDrop
from crmsync.emulators.tls import TestCertificates, generate_certificates


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner (several share one process)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets=sockets)
        finally:
            self.ready.set()  # never leave a waiter hanging when startup fails


class _CutConnectionFilter(logging.Filter):
    """Injected 'drop' faults end responses early on purpose; uvicorn would log each as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], InjectedDrop):
            return False
        return "without completing response" not in record.getMessage()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets of that proto, and
    # without it every response waits ~40 ms on the peer's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class PortUnavailableError(OSError):
    """An emulator's port could not be bound (in use, or not allowed); names which emulator and where."""

    def __init__(self, name: str, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot serve the {name} emulator on {host}:{port}: {reason}")
        self.name, self.host, self.port, self.reason = name, host, port, reason


def bind_sockets(names: Sequence[str], host: str, ports: Sequence[int] | None) -> list[socket.socket]:
    """One listening socket per name, on its port (0: any free one); PortUnavailableError for the first that fails."""
    sockets: list[socket.socket] = []
    for index, name in enumerate(names):
        port = ports[index] if ports else 0
        try:
            sockets.append(bind_socket(host, port))
        except OSError as exc:
            for sock in sockets:
                sock.close()
            raise PortUnavailableError(name, host, port, (exc.strerror or str(exc)).lower()) from exc
    return sockets


@dataclass
class ServedApp:
    name: str
    app: ASGIApp
    host: str
    port: int
    tls: TestCertificates | None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_file if self.tls else None


def _config(app: ASGIApp, tls: TestCertificates | None, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_CutConnectionFilter())
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        http="httptools",
        loop="asyncio",
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
        timeout_keep_alive=30,
    )


async def serve_many(
    apps: Sequence[tuple[str, ASGIApp]],
    *,
    host: str = "127.0.0.1",
    ports: Sequence[int] | None = None,
    tls: TestCertificates | None = None,
    log_level: str = "warning",
    on_ready: Callable[[list[ServedApp]], None] | None = None,
    sockets: Sequence[socket.socket] | None = None,
) -> None:
    """Serve every app on its own port until SIGINT/SIGTERM; `on_ready` gets the bound addresses.

    `sockets` already bound (`bind_sockets`, so a taken port is known before seeding) replace `ports`.
    """
    if sockets is None:
        sockets = bind_sockets([name for name, _ in apps], host, ports)
    served = [
        ServedApp(name, app, host, sock.getsockname()[1], tls) for (name, app), sock in zip(apps, sockets, strict=True)
    ]
    servers = [_QuietServer(_config(app, tls, log_level)) for _, app in apps]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop)
    tasks = [asyncio.create_task(s.serve(sockets=[sock])) for s, sock in zip(servers, sockets, strict=True)]
    await asyncio.gather(*(asyncio.to_thread(s.ready.wait) for s in servers))
    if not all(s.started for s in servers):
        stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise RuntimeError("an emulator failed to start")
    if on_ready is not None:
        on_ready(served)
    await asyncio.gather(*tasks)


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp, *, tls: bool | TestCertificates = False, host: str = "127.0.0.1", port: int = 0
) -> Iterator[ServedApp]:
    """Run one app on an ephemeral loopback port in a background thread (tests, benchmarks, demos)."""
    certificates = generate_certificates() if tls is True else (tls or None)
    sock = bind_socket(host, port)
    served = ServedApp("app", app, host, sock.getsockname()[1], certificates)
    server = _QuietServer(_config(app, certificates, "warning"))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="crmsync-emulator", daemon=True)
    thread.start()
    server.ready.wait(timeout=30)
    if failure or not server.started:
        raise RuntimeError(f"emulator server failed to start: {failure[:1]}")
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
