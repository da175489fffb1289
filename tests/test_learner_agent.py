"""The agent's parts: batched critic ensemble, tanh-Gaussian actor, the RLPD target, encoders
(shared per update, ResNet-18 with torchvision's names), policy export and inference."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from learner.agents.bc import BCAgent
from learner.agents.sac import SACAgent
from learner.batch import TensorBatch
from learner.config import LearnerConfig
from learner.learner import Learner
from learner.networks import Actor, CameraEncoder, CriticEnsemble, NormalisedResNet18
from learner.policy import Policy
from learner.replay import Batch
from learner.resnet import ResNet18

SMALL: dict[str, Any] = {
    "cameras": ("front", "wrist"),
    "image_size": (32, 32),
    "state_dim": 5,
    "action_dim": 3,
    "batch_size": 16,
}


def random_batch(config: LearnerConfig, seed: int = 0) -> TensorBatch:
    rng = np.random.default_rng(seed)
    batch = Batch.empty(config.batch_size, config.cameras, config.image_size, config.state_dim, config.action_dim)
    for images in (*batch.images.values(), *batch.next_images.values()):
        images[:] = rng.integers(0, 255, images.shape, dtype=np.uint8)
    batch.state[:] = rng.normal(size=batch.state.shape)
    batch.next_state[:] = rng.normal(size=batch.state.shape)
    batch.action[:] = rng.uniform(-1, 1, batch.action.shape)
    batch.reward[:] = -(rng.random(len(batch)) < 0.3).astype(np.float32)
    batch.terminated[:] = rng.random(len(batch)) < 0.2
    return TensorBatch.from_numpy(batch)


def test_critic_ensemble_matches_one_mlp_per_member() -> None:
    torch.manual_seed(0)
    critic = CriticEnsemble(4, 6, (8, 8))
    with torch.no_grad():
        for scales in critic.norm_scales:
            scales.normal_()
    features, action = torch.randn(5, 4), torch.randn(5, 2)
    together = critic(features, action)
    x = torch.cat([features, action], 1)
    for member in range(4):
        hidden = x
        for layer in range(3):
            hidden = hidden @ critic.weights[layer][member] + critic.biases[layer][member]
            if layer < 2:
                hidden = (
                    F.layer_norm(hidden, (8,)) * critic.norm_scales[layer][member] + critic.norm_shifts[layer][member]
                )
                hidden = hidden.relu()
        torch.testing.assert_close(together[member], hidden.squeeze(-1))
    members = torch.tensor([3, 1])
    torch.testing.assert_close(critic(features, action, members), together[members])


def test_actor_log_prob_is_the_squashed_gaussian_density() -> None:
    torch.manual_seed(0)
    actor = Actor(6, (16,), 3)
    features = torch.randn(64, 6)
    generator = torch.Generator().manual_seed(1)
    action, log_prob = actor.sample(features, generator)
    mean, log_std = actor.distribution(features)
    distribution = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform(cache_size=1)]
    )
    expected = distribution.log_prob(action.clamp(-1 + 1e-6, 1 - 1e-6)).sum(-1)
    torch.testing.assert_close(log_prob, expected, rtol=1e-3, atol=1e-3)
    assert action.abs().max() <= 1.0
    torch.testing.assert_close(actor.deterministic(features), torch.tanh(mean))


def test_each_image_batch_is_encoded_once_per_critic_step() -> None:
    config = LearnerConfig(**SMALL, utd_ratio=3)
    agent = SACAgent(config)
    calls = {camera: 0 for camera in config.cameras}
    for camera, encoder in agent.encoder.cameras_encoders.items():
        encoder.register_forward_hook(lambda *_, camera=camera: calls.__setitem__(camera, calls[camera] + 1))
    agent.update(lambda: random_batch(config))
    # obs and next obs of each of the 3 critic batches; the actor reuses the last features
    assert calls == {"front": 6, "wrist": 6}


def test_critic_target_is_min_over_a_random_pair_of_target_critics() -> None:
    config = LearnerConfig(**SMALL)
    agent = SACAgent(config)
    with torch.no_grad():
        for parameter in agent.target_critic.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)  # make the target critics disagree
    batch = random_batch(config)
    generator = torch.Generator()
    generator.set_state(agent.generator.get_state())
    with torch.no_grad():
        next_features = agent.encoder(batch.next_images, batch.next_state)
        next_action, next_log_prob = agent.actor.sample(next_features, generator)
        members = torch.randperm(10, generator=generator)[:2]
        all_q = agent.target_critic(next_features, next_action)
        next_q = torch.minimum(all_q[members[0]], all_q[members[1]]) - config.init_temperature * next_log_prob
        expected = batch.reward + 0.97 * (1 - batch.terminated) * next_q
    metrics = agent.update(lambda: batch)
    assert metrics["q/target_mean"] == pytest.approx(expected.mean().item(), rel=1e-4, abs=1e-5)
    pair_min = torch.minimum(all_q[members[0]], all_q[members[1]])
    assert not torch.equal(all_q.min(0).values, pair_min)  # the pair matters, not all ten


def test_critic_and_actor_steps_improve_their_objectives() -> None:
    config = LearnerConfig(**SMALL, critic_lr=1e-3, actor_lr=1e-3)
    agent = SACAgent(config)
    batch = random_batch(config)
    first = agent.update(lambda: batch)
    for _ in range(30):
        last = agent.update(lambda: batch)
    assert last["loss/critic"] < first["loss/critic"]
    features = agent.encoder(batch.images, batch.state).detach()
    with torch.no_grad():
        before = agent.critic(features, agent.actor.deterministic(features)).mean()
    critic_state = {k: v.clone() for k, v in agent.critic.state_dict().items()}
    for _ in range(20):
        agent._actor_and_temperature_step(features, batch)
    with torch.no_grad():
        after = agent.critic(features, agent.actor.deterministic(features)).mean()
    assert after > before
    for key, value in agent.critic.state_dict().items():  # the actor step leaves the critics alone
        torch.testing.assert_close(value, critic_state[key])


def test_bc_weight_pulls_the_actor_towards_the_imitated_actions() -> None:
    config = LearnerConfig(**SMALL, actor_lr=3e-3, bc_weight=5.0)
    agent = SACAgent(config)
    batch = random_batch(config)
    batch.imitate = torch.arange(batch.action.shape[0]) % 2 == 0
    batch.action = torch.full_like(batch.action, 0.6)
    features = agent.encoder(batch.images, batch.state).detach()

    def distance() -> float:
        with torch.no_grad():
            return (agent.actor.deterministic(features[batch.imitate]) - 0.6).abs().mean().item()

    before = distance()
    metrics = {}
    for _ in range(40):
        metrics = agent._actor_and_temperature_step(features, batch)
    assert metrics["loss/bc"] > 0
    assert distance() < 0.5 * before
    plain = SACAgent(dataclasses.replace(config, bc_weight=0.0))
    assert plain._actor_and_temperature_step(features, batch)["loss/bc"] == 0.0


def test_conservative_term_lowers_q_away_from_the_batch_actions() -> None:
    def gap_after_training(conservative_weight: float) -> float:
        config = LearnerConfig(**{**SMALL, "cameras": ()}, critic_lr=1e-3, conservative_weight=conservative_weight)
        torch.manual_seed(0)
        agent = SACAgent(config)
        batch = random_batch(config)
        batch.action = torch.full_like(batch.action, 0.6)
        batch.reward = torch.zeros_like(batch.reward)
        metrics: dict[str, float] = {}
        for _ in range(60):
            _, metrics = agent._critic_step(batch)
        assert ("q/conservative_gap" in metrics) == (conservative_weight > 0)
        with torch.no_grad():
            features = agent.encoder({}, batch.state)
            elsewhere = agent.critic(features, torch.full_like(batch.action, -0.6)).mean()
            at_data = agent.critic(features, batch.action).mean()
        return float(at_data - elsewhere)

    assert gap_after_training(2.0) > 0.5
    assert abs(gap_after_training(0.0)) < 0.2


def test_bc_term_trains_the_encoders_in_the_critic_step() -> None:
    config = LearnerConfig(**SMALL, bc_weight=1.0)
    batch = random_batch(config)
    batch.imitate = torch.arange(batch.action.shape[0]) % 2 == 0

    def encoder_gradient(settings: LearnerConfig) -> torch.Tensor:
        torch.manual_seed(0)
        agent = SACAgent(settings)
        agent._critic_step(batch)
        return torch.cat([p.grad.flatten() for p in agent.encoder.parameters() if p.grad is not None])

    with_bc = encoder_gradient(config)
    without = encoder_gradient(dataclasses.replace(config, bc_weight=0.0))
    assert with_bc.shape == without.shape and not torch.allclose(with_bc, without)


def test_bc_agent_and_sac_report_the_same_bc_loss() -> None:
    """Both average the squared error over rows and action dimensions: the figures compare."""
    config = LearnerConfig(**SMALL, bc_weight=1.0)
    batch = random_batch(config)
    batch.imitate = torch.ones(batch.action.shape[0], dtype=torch.bool)
    torch.manual_seed(0)
    sac = SACAgent(config)
    torch.manual_seed(0)
    bc = BCAgent(dataclasses.replace(config, algorithm="bc"))
    with torch.no_grad():
        features = sac.encoder(batch.images, batch.state)
        expected = (sac.actor.deterministic(features) - batch.action).square().mean().item()
    assert sac._actor_and_temperature_step(features, batch)["loss/bc"] == pytest.approx(expected, rel=1e-5)
    assert bc.update(lambda: batch)["loss/bc"] == pytest.approx(expected, rel=1e-5)  # the same networks


def test_temperature_moves_toward_the_target_entropy() -> None:
    config = LearnerConfig(**SMALL, temperature_lr=1e-2)
    agent = SACAgent(config)
    batch = random_batch(config)
    metrics = agent.update(lambda: batch)
    start = metrics["temperature"]
    for _ in range(10):
        metrics = agent.update(lambda: batch)
    # the fresh actor's entropy is far above -|A|/2: alpha goes down
    assert metrics["entropy"] > config.entropy_target and metrics["temperature"] < start


TORCHVISION_RESNET18_KEYS = (
    ["conv1.weight"]
    + [f"bn1.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    + [
        f"layer{layer}.{block}.{name}"
        for layer in range(1, 5)
        for block in range(2)
        for name in (
            ["conv1.weight"]
            + [f"bn1.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
            + ["conv2.weight"]
            + [f"bn2.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
            + (
                ["downsample.0.weight"]
                + [
                    f"downsample.1.{k}"
                    for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
                ]
                if layer > 1 and block == 0
                else []
            )
        )
    ]
)


class Payload:
    """An arbitrary object, which a weights file must never make the loader build."""


def torchvision_like_file(tmp_path, seed: int = 0):
    torch.manual_seed(seed)
    state = {key: value.clone() for key, value in ResNet18().state_dict().items()}
    for key, value in state.items():
        if value.is_floating_point():
            value.normal_(0, 0.05)
            if "running_var" in key:
                value.abs_().add_(0.5)
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(state, path)
    return path, state


def test_resnet18_has_torchvision_parameter_names() -> None:
    assert list(ResNet18().state_dict()) == TORCHVISION_RESNET18_KEYS


def front_resnet(agent: SACAgent) -> ResNet18:
    """The ResNet-18 inside the front camera's encoder of a resnet18-encoder agent."""
    encoder = agent.encoder.cameras_encoders["front"]
    assert isinstance(encoder, CameraEncoder) and isinstance(encoder.backbone, NormalisedResNet18)
    return encoder.backbone.resnet


def test_resnet18_loads_local_weights_frozen_or_fine_tuned(tmp_path) -> None:
    path, state = torchvision_like_file(tmp_path)
    config = LearnerConfig(**SMALL, encoder="resnet18", pretrained_weights=path, freeze_encoder=True)
    agent = SACAgent(config)
    resnet = front_resnet(agent)
    for key, value in resnet.state_dict().items():
        torch.testing.assert_close(value, state[key])
    agent.update(lambda: random_batch(config))
    for key, value in resnet.state_dict().items():  # frozen: unchanged by an update
        torch.testing.assert_close(value, state[key])
    tuned = SACAgent(dataclasses.replace(config, freeze_encoder=False))
    tuned.update(lambda: random_batch(config))
    weight = front_resnet(tuned).conv1.weight
    assert not torch.equal(weight, state["conv1.weight"])
    # BatchNorm statistics stay those of the file even while fine-tuning
    running = front_resnet(tuned).bn1.running_mean
    torch.testing.assert_close(running, state["bn1.running_mean"])


def test_resnet18_refuses_files_that_do_not_fit(tmp_path) -> None:
    path, state = torchvision_like_file(tmp_path)
    del state["layer4.1.conv2.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing \['layer4.1.conv2.weight'\]"):
        CameraEncoder(LearnerConfig(**SMALL, encoder="resnet18", pretrained_weights=path))
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a loadable"):
        CameraEncoder(LearnerConfig(**SMALL, encoder="resnet18", pretrained_weights=path))
    torch.save({"conv1.weight": Payload()}, path)  # a pickled object: weights_only refuses to build it
    with pytest.raises(ValueError, match="not a loadable"):
        CameraEncoder(LearnerConfig(**SMALL, encoder="resnet18", pretrained_weights=path))
    with pytest.raises(FileNotFoundError):
        CameraEncoder(LearnerConfig(**SMALL, encoder="resnet18", pretrained_weights=tmp_path / "absent.pth"))


def env_observation(config: LearnerConfig, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "state": rng.normal(size=config.state_dim).astype(np.float32),
        "images": {c: rng.integers(0, 255, (*config.image_size, 3), dtype=np.uint8) for c in config.cameras},
    }


def test_policy_export_runs_the_same_actions_on_the_actor_side() -> None:
    config = LearnerConfig(**SMALL)
    learner = Learner(config)
    arrays = learner.export_policy()
    assert all(a.dtype == np.float32 for a in arrays.values())
    assert {name.split(".")[0] for name in arrays} == {"encoder", "actor"}  # no critic, nothing else
    policy = Policy(config, arrays)
    observation = env_observation(config)
    action = policy.act(observation)
    assert action.shape == (3,) and action.dtype == np.float32
    with torch.no_grad():
        state = torch.from_numpy(observation["state"])[None]
        images = {c: torch.from_numpy(i)[None] for c, i in observation["images"].items()}
        expected = learner.agent.act(images, state)[0].numpy()
    np.testing.assert_allclose(action, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(policy.act(observation), action)
    samples = np.stack([policy.act(observation, deterministic=False) for _ in range(20)])
    assert np.abs(samples).max() <= 1 and samples.std(axis=0).min() > 0
    # and back: a learner starts from exported weights
    other = Learner(dataclasses.replace(config, seed=7))
    other.import_policy(arrays)
    for name, array in other.export_policy().items():
        np.testing.assert_array_equal(array, arrays[name])


def test_policy_refuses_bad_weights_and_observations() -> None:
    config = LearnerConfig(**SMALL)
    arrays = Learner(config).export_policy()
    policy = Policy(config)
    name = next(iter(arrays))
    with pytest.raises(ValueError, match="missing"):
        policy.load_arrays({k: v for k, v in arrays.items() if k != name})
    with pytest.raises(ValueError, match="expected float32"):
        policy.load_arrays({**arrays, name: arrays[name].astype(np.float64)})
    with pytest.raises(ValueError, match="expected float32"):
        policy.load_arrays({**arrays, name: arrays[name][..., :1]})
    with pytest.raises(ValueError, match="non-finite"):
        policy.load_arrays({**arrays, name: np.full_like(arrays[name], np.nan)})
    policy.load_arrays(arrays)
    observation = env_observation(config)
    with pytest.raises(ValueError, match="state"):
        policy.act({**observation, "state": np.full(5, np.nan, np.float32)})
    with pytest.raises(ValueError, match="wrist"):
        policy.act({**observation, "images": {"front": observation["images"]["front"]}})
    with pytest.raises(ValueError, match="uint8"):
        policy.act({**observation, "images": {**observation["images"], "front": np.zeros((16, 16, 3), np.uint8)}})


def test_non_finite_batches_are_refused() -> None:
    config = LearnerConfig(**SMALL)
    batch = Batch.empty(4, config.cameras, config.image_size, 5, 3)
    for name in ("state", "action", "reward", "next_state"):
        getattr(batch, name)[:] = 0
    batch.reward[2] = np.nan
    with pytest.raises(ValueError, match="non-finite values in 'reward'"):
        TensorBatch.from_numpy(batch)


def test_config_refuses_inconsistent_settings() -> None:
    with pytest.raises(ValueError, match="critic_subset"):
        LearnerConfig(critic_subset=11)
    with pytest.raises(ValueError, match="intervention_fraction"):
        LearnerConfig(intervention_fraction=1.5)
    with pytest.raises(ValueError, match="pretrained_weights needs"):
        LearnerConfig(pretrained_weights="x.pth")  # type: ignore[arg-type]  # a str, not a Path: refused
    with pytest.raises(ValueError, match="augment_pad"):
        LearnerConfig(image_size=(16, 16), augment_pad=8)
    config = LearnerConfig(cameras=("a",), image_size=(64, 48))
    assert LearnerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown learner settings"):
        LearnerConfig.from_dict({"colour": "blue"})
