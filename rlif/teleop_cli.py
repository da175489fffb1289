"""The operator's subcommands: `rlif teleop`, `rlif operator`, `rlif record`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import tyro
import zmq

from actor.record import RecordConfig
from teleop.live import TeleopConfig
from teleop.sim_operator import OperatorConfig
from teleop.stream import DEFAULT_COMMANDS, DEFAULT_PROPOSALS, SocketSetup


def bind_security(address: str, secret_key: Path | None, clients: Path | None) -> tuple[SocketSetup | None, Any]:
    """CurveZMQ for a socket bound at `address`: none on loopback, required elsewhere (the robot
    server's rule). Returns the socket setup and the authenticator to stop at exit (or None)."""
    from wire.security import CurveServer, check_bind, host_of

    check_bind(host_of(address), secret_key, clients)
    if secret_key is None or clients is None:
        return None, None
    curve = CurveServer(zmq.Context.instance(), secret_key, clients)
    return curve.secure, curve


def connect_security(server_public_key: Path | None, client_secret_key: Path | None) -> SocketSetup | None:
    if server_public_key is None or client_secret_key is None:
        return None
    from wire.security import secure_client

    def setup(socket: zmq.Socket) -> None:
        secure_client(socket, server_public_key, client_secret_key)

    return setup


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def teleop(config: Annotated[TeleopConfig, tyro.conf.arg(name="")]) -> None:
    """Publish a person's SpaceMouse (or keyboard) as the teleop stream the actor merges."""
    from teleop.live import run_teleop

    _logging()
    secure, curve = bind_security(config.bind, config.curve_secret_key, config.curve_clients)
    try:
        stop = _stop_on_signals() if config.input == "spacemouse" else None
        code = run_teleop(config, secure=secure, stop=stop)
    finally:
        if curve is not None:
            curve.stop()
    raise SystemExit(code)


@dataclass(frozen=True)
class OperatorCliConfig:
    """Options of `rlif operator`."""

    operator: Annotated[OperatorConfig, tyro.conf.arg(name="")] = field(default_factory=OperatorConfig)
    proposals: str = DEFAULT_PROPOSALS
    """The actor's proposal stream to answer."""
    bind: str = DEFAULT_COMMANDS
    """Address to publish the operator's commands on (the teleop stream)."""
    rate: float = 100.0
    """Hz at which the last answer is republished between proposals."""
    server: str | None = None
    """Robot server to read the privileged state from at each proposal (default: the proposal's own map)."""
    curve_secret_key: Path | None = None
    """CurveZMQ secret key of the command stream; required to bind off loopback."""
    curve_clients: Path | None = None
    """Folder of the public keys of the actors allowed to subscribe."""
    proposals_server_key: Path | None = None
    """The actor's public key, when its proposal stream uses CurveZMQ."""
    server_public_key: Path | None = None
    """The robot server's public key, when it uses CurveZMQ."""
    client_secret_key: Path | None = None
    """This operator's secret key, for a proposal stream or robot server with CurveZMQ."""


def operator(config: Annotated[OperatorCliConfig, tyro.conf.arg(name="")]) -> None:
    """A simulated operator (scripted expert + intervention model) answering the actor's proposals."""
    from robot_server.client import CurveKeys, RobotClient
    from teleop.sim_operator import StateSource, run_operator
    from teleop.stream import CommandPublisher, ProposalSubscriber

    _logging()
    simulated = config.operator.build()
    secure, curve = bind_security(config.bind, config.curve_secret_key, config.curve_clients)
    stop = _stop_on_signals()
    closables: list[Any] = []
    try:
        proposals = ProposalSubscriber(
            config.proposals, secure=connect_security(config.proposals_server_key, config.client_secret_key)
        )
        closables.append(proposals)
        publisher = CommandPublisher(config.bind, secure=secure)
        closables.append(publisher)
        state_source: StateSource | None = None
        if config.server is not None:
            keys = None
            if config.server_public_key is not None and config.client_secret_key is not None:
                keys = CurveKeys(config.server_public_key, config.client_secret_key)
            client = RobotClient(config.server, curve=keys)
            closables.append(client)

            def state_source(_proposal: Any) -> dict[str, Any]:
                return client.state()

        print(
            f"simulated operator ({config.operator.preset} expert, {config.operator.model} model) answering "
            f"{config.proposals}, publishing on {config.bind}",
            file=sys.stderr,
            flush=True,
        )
        run_operator(simulated, proposals, publisher, stop, rate=config.rate, state_source=state_source)
        print(f"answered {simulated.answered} proposals, took over {simulated.takeovers} steps", file=sys.stderr)
    finally:
        for closable in closables:
            closable.close()
        if curve is not None:
            curve.stop()


def record(config: Annotated[RecordConfig, tyro.conf.arg(name="")]) -> None:
    """Record operator-driven episodes (a person through `rlif teleop`, or --scripted PRESET) as demonstrations."""
    from actor.record import record_demonstrations

    _logging()
    try:
        saved = record_demonstrations(config)
    except KeyboardInterrupt:
        print("\ninterrupted; finished episodes are saved", file=sys.stderr)
        raise SystemExit(130) from None
    print(f"{len(saved)} episodes in {config.out}")
