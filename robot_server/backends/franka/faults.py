"""What the robot's errors mean for us: which need a person, and the messages that say so."""

from __future__ import annotations

from robot_server.backends.franka.calls import FrankaError

SAFE_TO_CLEAR = frozenset(
    {
        "communication_constraints_violation",
        "controller_torque_discontinuity",
        "cartesian_motion_generator_acceleration_discontinuity",
        "cartesian_motion_generator_velocity_discontinuity",
        "cartesian_motion_generator_joint_acceleration_discontinuity",
        "cartesian_motion_generator_joint_velocity_discontinuity",
        "joint_motion_generator_acceleration_discontinuity",
        "joint_motion_generator_velocity_discontinuity",
    }
)
"""Errors of the command stream (late or jumpy packets) that say nothing about the arm's
surroundings: the backend clears these on its own at start-up. Everything else (reflexes after a
collision, limit violations, instability) is left for a person's `recover`."""

NEEDS_PERSON_MODES = frozenset({"Reflex", "UserStopped", "Other", "Guiding"})
"""Robot modes in which the arm does not follow commands until someone acts."""


class FrankaConnectionError(FrankaError):
    """The arm (or its gripper) could not be reached or stopped answering."""


class FrankaVersionError(FrankaError):
    """The robot's FCI server speaks another libfranka protocol version than franky's."""


def needs_person(errors: tuple[str, ...], robot_mode: str) -> bool:
    """Whether only a person's `recover` may clear this state."""
    return robot_mode in NEEDS_PERSON_MODES or any(error not in SAFE_TO_CLEAR for error in errors)


def describe_robot_errors(errors: tuple[str, ...], robot_mode: str) -> str:
    """A fault line for errors the robot reports (empty when there are none)."""
    if robot_mode == "UserStopped":
        return "user stop pressed: release the external activation device, then send 'recover'"
    if robot_mode == "Guiding":
        return "the arm is being hand-guided: release the guiding buttons, then send 'recover'"
    if robot_mode == "Other" and not errors:
        return (
            "the arm does not accept commands (robot mode Other): unlock the joints and activate FCI "
            "in Desk, then send 'recover'"
        )
    if not errors and robot_mode != "Reflex":
        return ""
    kind = "reflex" if robot_mode == "Reflex" or any("reflex" in e for e in errors) else "robot error"
    listed = ", ".join(errors) if errors else "no error flags"
    return f"{kind} ({listed}): check the arm's surroundings, then send 'recover'"


def describe_control_error(message: str, errors: tuple[str, ...], robot_mode: str) -> str:
    """A fault line for a motion that franky aborted."""
    robot = describe_robot_errors(errors, robot_mode)
    return f"motion aborted: {message}" + (f"; {robot}" if robot else "; send 'recover'")


def unreachable(host: str, detail: str) -> FrankaConnectionError:
    return FrankaConnectionError(
        f"cannot connect to the Franka arm at {host}: {detail.rstrip('.')}. Check that this PC reaches {host} "
        f"(cable, network interface, `ping {host}`), that FCI is activated in Desk and the joints "
        f"are unlocked, that {host} is the control unit's address (not the arm base's), and that "
        "no other program is connected to the arm (FCI takes one client; a second one waits forever)"
    )


def version_mismatch(host: str, detail: str, library: str) -> FrankaVersionError:
    return FrankaVersionError(
        f"libfranka version mismatch with the arm at {host}: {detail.rstrip(' .')}. This franky-control build uses "
        f"libfranka {library}; install the franky-control build that matches the robot's system version"
    )


def lost(what: str, detail: str) -> str:
    """A fault line for a connection that stopped answering."""
    return f"connection to the arm lost ({what}: {detail}): check the network and the arm, then send 'recover'"
