"""A node whose Docker is broken, for end-to-end tests: a TCP relay to the local engine
that answers image inspections itself, with a `500` ("fail": Docker errors on that node)
or never ("hang": a start-up that does not finish). Everything else is relayed, so the
agent behind it registers, measures and offers like any other."""

from __future__ import annotations

import contextlib
import os
import socket
import threading

_ENGINE = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
_ERROR = b'{"message":"error reading image store: input/output error"}'
_FAILED = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(_ERROR)).encode() + b"\r\n\r\n" + _ERROR)


class BrokenDocker:
    """`with BrokenDocker("fail") as url:` gives a DOCKER_HOST for the broken node."""

    def __init__(self, mode: str) -> None:
        assert mode in ("fail", "hang")
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sockets: list[socket.socket] = [self.listener]
        self.intercepted = 0

    def __enter__(self) -> str:
        threading.Thread(target=self._accept, daemon=True).start()
        return f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        for sock in self.sockets:  # shut down, not only closed: that wakes a blocked recv
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _engine(self) -> socket.socket:
        if _ENGINE.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(_ENGINE.removeprefix("unix://"))
        else:
            host, port = _ENGINE.removeprefix("tcp://").rsplit(":", 1)
            sock = socket.create_connection((host, int(port)))
        return sock

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            engine = self._engine()
            self.sockets += [client, engine]
            threading.Thread(target=self._requests, args=(client, engine), daemon=True).start()
            threading.Thread(target=self._pipe, args=(engine, client), daemon=True).start()

    def _requests(self, client: socket.socket, engine: socket.socket) -> None:
        """Client to engine, but for `GET .../images/<name>/json` (docker-py sends one
        request at a time on a connection, its line first in a chunk)."""
        while data := self._recv(client):
            line = data.split(b"\r\n", 1)[0]
            if line.startswith(b"GET ") and b"/images/" in line and b"/json" in line:
                self.intercepted += 1
                if self.mode == "fail":
                    client.sendall(_FAILED)
                continue  # "hang": never answered
            engine.sendall(data)

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        while data := self._recv(source):
            with contextlib.suppress(OSError):
                target.sendall(data)

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        try:
            return sock.recv(65536)
        except OSError:
            return b""
