"""Weights channel: latest version only, late subscribers served, garbage ignored."""

from __future__ import annotations

import time

import numpy as np

from tests.conftest import free_port
from wire.weights import WeightsPublisher, WeightsSubscriber


def wait_for(subscriber: WeightsSubscriber, publisher: WeightsPublisher, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        publisher.poll()
        weights = subscriber.latest(0.02)
        if weights is not None:
            return weights
    return None


def test_late_subscriber_gets_the_newest_version_once() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    publisher = WeightsPublisher(address)
    try:
        publisher.publish(1, {"w": np.ones((3, 4), np.float32)})
        publisher.publish(2, {"w": np.full((3, 4), 2.0, np.float32), "b": np.zeros(4, np.float32)}, {"step": 7})
        subscriber = WeightsSubscriber(address)  # starts after the learner published
        weights = wait_for(subscriber, publisher)
        assert weights is not None and weights.version == 2 and weights.data == {"step": 7}
        np.testing.assert_array_equal(weights.arrays["w"], np.full((3, 4), 2.0))
        publisher.poll()
        assert subscriber.latest(0.2) is None  # nothing newer
        publisher.publish(3, {"w": np.zeros((3, 4), np.float32)})
        assert wait_for(subscriber, publisher).version == 3
        subscriber.close()
    finally:
        publisher.close()


def test_versions_must_increase() -> None:
    publisher = WeightsPublisher(f"tcp://127.0.0.1:{free_port()}")
    try:
        publisher.publish(5, {"w": np.zeros(1, np.float32)})
        try:
            publisher.publish(5, {"w": np.zeros(1, np.float32)})
        except ValueError as exc:
            assert "not above" in str(exc)
        else:
            raise AssertionError("a repeated version was accepted")
    finally:
        publisher.close()
