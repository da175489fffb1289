"""Where the server may listen, and CurveZMQ encryption and authentication off loopback."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator


class BindError(ValueError):
    """The server was asked to listen somewhere it may not."""


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


class CurveServer:
    """Enables CurveZMQ on server sockets; only the clients whose public keys are in
    `clients` may connect."""

    def __init__(self, context: zmq.Context, secret_key: Path, clients: Path) -> None:
        if not Path(secret_key).is_file():
            raise BindError(f"CurveZMQ secret key file {secret_key} does not exist")
        if not Path(clients).is_dir():
            raise BindError(f"CurveZMQ clients folder {clients} does not exist")
        self.public, self.secret = zmq.auth.load_certificate(str(secret_key))
        if self.secret is None:
            raise BindError(f"{secret_key} holds no secret key")
        self._auth = ThreadAuthenticator(context)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(clients))

    def secure(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_server = True

    def stop(self) -> None:
        self._auth.stop()


def secure_client(socket: zmq.Socket, server_public_key: Path, client_secret_key: Path) -> None:
    """Makes a client socket talk CurveZMQ to a server with the given public key."""
    server_public, _ = zmq.auth.load_certificate(str(server_public_key))
    public, secret = zmq.auth.load_certificate(str(client_secret_key))
    if secret is None:
        raise BindError(f"{client_secret_key} holds no secret key")
    socket.curve_serverkey = server_public
    socket.curve_publickey = public
    socket.curve_secretkey = secret


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
