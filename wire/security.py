"""Transport security: where a process may listen, and CurveZMQ encryption and authentication.

One setup for every socket of the stack, built from configuration: `CurveServerKeys` (a listening
side: its secret key file and the folder of the public keys of the clients allowed in) or
`CurveKeys` (a connecting side: the server's public key and this client's secret key), or none.
`Security(keys).secure` configures any socket from them; `Security(keys).setup` is that function,
or None without keys, as the sockets' `secure` parameters take it.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

SocketSetup = Callable[[zmq.Socket], None]
"""Configures a socket before it binds or connects (`Security.secure`)."""


class BindError(ValueError):
    """The server was asked to listen somewhere it may not."""


@dataclass(frozen=True)
class CurveKeys:
    """A client's CurveZMQ keys."""

    server_public_key: Path
    """The server's public certificate file."""
    client_secret_key: Path
    """This client's secret certificate file (its public key must be in the server's clients folder)."""


@dataclass(frozen=True)
class CurveServerKeys:
    """A listening side's CurveZMQ keys: only the clients whose public keys are in `clients` get in."""

    secret_key: Path
    """This server's secret certificate file."""
    clients: Path
    """Folder of the public certificate files of the clients allowed to connect."""


Keys = CurveKeys | CurveServerKeys


def client_keys(server_public_key: Path | None, client_secret_key: Path | None) -> CurveKeys | None:
    """The client keys of two optional settings: both given, or none."""
    if server_public_key is None or client_secret_key is None:
        return None
    return CurveKeys(Path(server_public_key), Path(client_secret_key))


def server_keys(secret_key: Path | None, clients: Path | None) -> CurveServerKeys | None:
    """The server keys of two optional settings: both given, or none."""
    if secret_key is None or clients is None:
        return None
    return CurveServerKeys(Path(secret_key), Path(clients))


class Security:
    """CurveZMQ for the sockets of one side, from its keys (none: plain sockets).

    A server's keys are checked at once (BindError when a file is missing), and each socket they
    secure needs a ZAP authenticator in its context: one is started for a context on its first
    socket, and `close` stops them all. A client's keys are read when the first socket needs them.
    """

    def __init__(self, keys: Keys | None = None) -> None:
        self.keys = keys
        self._lock = threading.Lock()
        self._authenticators: list[tuple[zmq.Context, ThreadAuthenticator]] = []
        self._certificates: tuple[bytes, bytes, bytes | None] | None = None
        if isinstance(keys, CurveServerKeys):
            self._certificates = _server_certificates(keys)

    @property
    def setup(self) -> SocketSetup | None:
        """`secure`, or None without keys."""
        return None if self.keys is None else self.secure

    def secure(self, socket: zmq.Socket) -> None:
        """Configure `socket` (before it binds or connects) with this side's keys."""
        keys = self.keys
        if isinstance(keys, CurveServerKeys):
            public, secret, _ = self._loaded()
            self._authenticate(socket.context, keys)
            socket.curve_secretkey = secret
            socket.curve_publickey = public
            socket.curve_server = True
        elif isinstance(keys, CurveKeys):
            public, secret, server_public = self._loaded()
            socket.curve_serverkey = server_public
            socket.curve_publickey = public
            socket.curve_secretkey = secret

    def _loaded(self) -> tuple[bytes, bytes, bytes | None]:
        with self._lock:
            if self._certificates is None:
                assert isinstance(self.keys, CurveKeys)
                self._certificates = _client_certificates(self.keys)
            return self._certificates

    def _authenticate(self, context: zmq.Context, keys: CurveServerKeys) -> None:
        with self._lock:
            if any(known is context for known, _ in self._authenticators):
                return
            authenticator = ThreadAuthenticator(context)
            authenticator.start()
            authenticator.configure_curve(domain="*", location=str(keys.clients))
            self._authenticators.append((context, authenticator))

    def close(self) -> None:
        """Stop the authenticators (after the sockets they served are closed)."""
        with self._lock:
            authenticators, self._authenticators = self._authenticators, []
        for _, authenticator in authenticators:
            authenticator.stop()


def _server_certificates(keys: CurveServerKeys) -> tuple[bytes, bytes, None]:
    if not Path(keys.secret_key).is_file():
        raise BindError(f"CurveZMQ secret key file {keys.secret_key} does not exist")
    if not Path(keys.clients).is_dir():
        raise BindError(f"CurveZMQ clients folder {keys.clients} does not exist")
    public, secret = zmq.auth.load_certificate(str(keys.secret_key))
    if secret is None:
        raise BindError(f"{keys.secret_key} holds no secret key")
    return public, secret, None


def _client_certificates(keys: CurveKeys) -> tuple[bytes, bytes, bytes]:
    server_public, _ = zmq.auth.load_certificate(str(keys.server_public_key))
    public, secret = zmq.auth.load_certificate(str(keys.client_secret_key))
    if secret is None:
        raise BindError(f"{keys.client_secret_key} holds no secret key")
    return public, secret, server_public


def host_of(address: str) -> str:
    """The host of a ZeroMQ TCP address: tcp://10.0.0.2:5555 -> 10.0.0.2, tcp://[::1]:5555 -> ::1."""
    return address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, secret_key: Path | None, clients: Path | None) -> None:
    if is_loopback(host):
        return
    if secret_key is None or clients is None:
        raise BindError(
            f"refusing to bind {host}: off loopback the server needs CurveZMQ keys; "
            "make them with `rlif keys DIR`, then pass --curve-secret-key DIR/server.key_secret "
            "and --curve-clients DIR/clients"
        )


def make_keys(folder: Path) -> dict[str, Path]:
    """Key pairs for a server and one client, as `zmq.auth` certificate files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clients").mkdir(exist_ok=True)
    server_public, server_secret = zmq.auth.create_certificates(str(folder), "server")
    client_public, client_secret = zmq.auth.create_certificates(str(folder), "client")
    allowed = folder / "clients" / Path(client_public).name
    allowed.write_bytes(Path(client_public).read_bytes())
    return {
        "server_public": Path(server_public),
        "server_secret": Path(server_secret),
        "client_public": Path(client_public),
        "client_secret": Path(client_secret),
        "clients": folder / "clients",
    }
