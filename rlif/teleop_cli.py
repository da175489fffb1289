"""The operator's subcommands: `rlif teleop`, `rlif operator`, `rlif record`."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import tyro

from actor.record import RecordConfig
from teleop.live import TeleopConfig
from teleop.sim_operator import OperatorConfig
from teleop.stream import DEFAULT_COMMANDS, DEFAULT_PROPOSALS
from wire.lifecycle import stop_on_signals
from wire.security import Security, SocketSetup, check_bind, client_keys, host_of, server_keys


def bind_security(address: str, secret_key: Path | None, clients: Path | None) -> tuple[SocketSetup | None, Any]:
    """CurveZMQ for a socket bound at `address`: none on loopback, required elsewhere (the robot
    server's rule). Returns the socket setup and the authenticator to stop at exit (or None)."""
    check_bind(host_of(address), secret_key, clients)
    curve = Security(server_keys(secret_key, clients))
    return curve.setup, curve


def connect_security(server_public_key: Path | None, client_secret_key: Path | None) -> SocketSetup | None:
    return Security(client_keys(server_public_key, client_secret_key)).setup


def teleop(config: TeleopConfig) -> int:
    """Publish a person's SpaceMouse (or keyboard) as the teleop stream the actor merges."""
    from teleop.live import run_teleop

    secure, curve = bind_security(config.bind, config.curve_secret_key, config.curve_clients)
    try:
        if config.input != "spacemouse":  # the keyboard reads the terminal, Ctrl-C included
            return run_teleop(config, secure=secure, stop=None)
        stop = threading.Event()
        with stop_on_signals(stop.set):
            return run_teleop(config, secure=secure, stop=stop)
    finally:
        if curve is not None:
            curve.close()


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


def operator(config: OperatorCliConfig) -> None:
    """A simulated operator (scripted expert + intervention model) answering the actor's proposals."""
    from robot_server.client import RobotClient
    from teleop.publishers import CommandPublisher
    from teleop.sim_operator import StateSource, run_operator
    from teleop.stream import ProposalSubscriber

    simulated = config.operator.build()
    secure, curve = bind_security(config.bind, config.curve_secret_key, config.curve_clients)
    stop = threading.Event()
    closables: list[Any] = []
    with stop_on_signals(stop.set):
        try:
            proposals = ProposalSubscriber(
                config.proposals, secure=connect_security(config.proposals_server_key, config.client_secret_key)
            )
            closables.append(proposals)
            publisher = CommandPublisher(config.bind, secure=secure)
            closables.append(publisher)
            state_source: StateSource | None = None
            if config.server is not None:
                keys = client_keys(config.server_public_key, config.client_secret_key)
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
                curve.close()


def record(config: RecordConfig) -> int:
    """Record operator-driven episodes (a person through `rlif teleop`, or --scripted PRESET) as demonstrations."""
    from actor.record import record_demonstrations

    try:
        saved = record_demonstrations(config)
    except KeyboardInterrupt:
        print("\ninterrupted; finished episodes are saved", file=sys.stderr)
        return 130
    print(f"{len(saved)} episodes in {config.out}")
    return 0
