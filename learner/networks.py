"""Networks: one image encoder per camera, a tanh-Gaussian actor, a batched critic ensemble.

Images enter as uint8 (B, H, W, 3) straight from the replay batch; the permute to (B, 3, H, W)
is a view in channels-last layout, which oneDNN's CPU convolutions run fastest on.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from learner.config import LearnerConfig
from learner.resnet import FEATURES as RESNET_FEATURES
from learner.resnet import IMAGENET_MEAN, IMAGENET_STD, ResNet18

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


class SmallConv(nn.Module):
    """A 4x4 stride-4 patch stem, then two 3x3 stride-2 convolutions (128 px -> 8x8, 64 px -> 4x4).
    The patch stem does a quarter of the arithmetic of a 3x3 stride-2 stem at full resolution,
    and the pixel scaling x / 255 - 0.5 is folded into its weights (it has no padding, so this is
    exact), which saves a full pass over the images."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 4, stride=4)
        self.body = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float pixels in [0, 255] -> (B, features)."""
        stem_bias = self.stem.bias
        assert stem_bias is not None  # nn.Conv2d's default bias=True
        weight = self.stem.weight / 255.0
        bias = stem_bias - 0.5 * self.stem.weight.sum(dim=(1, 2, 3))
        return self.body(F.conv2d(pixels, weight, bias, stride=self.stem.stride))


class NormalisedResNet18(nn.Module):
    """ResNet-18 on ImageNet-normalised pixels; (B, 3, H, W) floats in [0, 255] -> (B, 512)."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18()
        self.register_buffer("scale", 1.0 / (255.0 * torch.tensor(IMAGENET_STD)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "shift", (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).view(1, 3, 1, 1), persistent=False
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.resnet(pixels * self.scale + self.shift)


class CameraEncoder(nn.Module):
    """uint8 images (B, H, W, 3) -> (B, latent_dim) features in [-1, 1]."""

    def __init__(self, config: LearnerConfig) -> None:
        super().__init__()
        height, width = config.image_size
        backbone: nn.Module
        if config.encoder == "resnet18":
            resnet = NormalisedResNet18()
            if config.pretrained_weights is not None:
                resnet.resnet.load_torchvision_weights(config.pretrained_weights)
            backbone, features = resnet, RESNET_FEATURES
        else:
            backbone = SmallConv(config.encoder_channels)
            with torch.no_grad():
                features = backbone(torch.zeros(1, 3, height, width)).shape[1]
        # nn.Module.to(memory_format=...) is documented and works; torch's stubs lack that overload
        self.backbone: nn.Module = backbone.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.frozen = config.freeze_encoder
        if self.frozen:
            self.backbone.requires_grad_(False)
        self.project = nn.Sequential(nn.Linear(features, config.latent_dim), nn.LayerNorm(config.latent_dim), nn.Tanh())
        self.backbone.eval()

    def train(self, mode: bool = True) -> CameraEncoder:
        super().train(mode)
        # BatchNorm keeps its stored statistics: batches of one robot's images are no ImageNet.
        self.backbone.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.permute(0, 3, 1, 2).float()  # a channels-last view, converted in one pass
        if self.frozen:
            with torch.no_grad():
                features = self.backbone(pixels)
        else:
            features = self.backbone(pixels)
        return self.project(features.flatten(1))


class ObservationEncoder(nn.Module):
    """Each camera through its own encoder, then the proprio state appended."""

    def __init__(self, config: LearnerConfig) -> None:
        super().__init__()
        self.cameras = tuple(config.cameras)
        self.cameras_encoders = nn.ModuleDict({camera: CameraEncoder(config) for camera in self.cameras})
        self.output_dim = config.latent_dim * len(self.cameras) + config.state_dim

    def forward(self, images: dict[str, torch.Tensor], state: torch.Tensor) -> torch.Tensor:
        parts = [self.cameras_encoders[camera](images[camera]) for camera in self.cameras]
        return torch.cat([*parts, state], dim=1) if parts else state


def mlp(in_dim: int, hidden_dims: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers += [nn.Linear(in_dim, width), nn.ReLU(inplace=True)]
        in_dim = width
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy over features; the evaluation action is tanh(mean)."""

    def __init__(self, in_dim: int, hidden_dims: tuple[int, ...], action_dim: int) -> None:
        super().__init__()
        self.trunk = mlp(in_dim, hidden_dims)
        self.head = nn.Linear(hidden_dims[-1] if hidden_dims else in_dim, 2 * action_dim)

    def distribution(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw_log_std = self.head(self.trunk(features)).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw_log_std) + 1.0)
        return mean, log_std

    def deterministic(self, features: torch.Tensor) -> torch.Tensor:
        mean, _ = self.distribution(features)
        return torch.tanh(mean)

    def sample(self, features: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action and its log-probability under the squashed distribution."""
        mean, log_std = self.distribution(features)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        pre_tanh = mean + noise * log_std.exp()
        log_prob = (-0.5 * noise.square() - log_std - HALF_LOG_TWO_PI).sum(-1)
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|
        log_prob = log_prob - (2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))).sum(-1)
        return torch.tanh(pre_tanh), log_prob


class CriticEnsemble(nn.Module):
    """E critics Q(features, action) with LayerNorm, evaluated together as batched matrix
    products: the first layer is one (B, in) x (in, E*h) product, the others one bmm each."""

    def __init__(self, ensemble: int, in_dim: int, hidden_dims: tuple[int, ...]) -> None:
        super().__init__()
        self.ensemble = ensemble
        sizes = [in_dim, *hidden_dims, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.norm_scales = nn.ParameterList()
        self.norm_shifts = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(ensemble, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(ensemble, 1, fan_out).uniform_(-bound, bound)))
        for width in hidden_dims:
            self.norm_scales.append(nn.Parameter(torch.ones(ensemble, 1, width)))
            self.norm_shifts.append(nn.Parameter(torch.zeros(ensemble, 1, width)))

    def forward(
        self, features: torch.Tensor, action: torch.Tensor, members: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(E', B) Q values of all critics, or of `members` (indices) only."""

        def pick(parameter: torch.Tensor) -> torch.Tensor:
            return parameter if members is None else parameter.index_select(0, members)

        x = torch.cat([features, action], dim=1)
        first = pick(self.weights[0])
        ensemble, fan_in, width = first.shape
        hidden = (x @ first.permute(1, 0, 2).reshape(fan_in, ensemble * width)).view(-1, ensemble, width)
        hidden = hidden.transpose(0, 1) + pick(self.biases[0])
        for layer in range(1, len(self.weights)):
            norm = layer - 1
            hidden = F.layer_norm(hidden, hidden.shape[-1:])
            hidden = torch.addcmul(pick(self.norm_shifts[norm]), hidden, pick(self.norm_scales[norm])).relu_()
            hidden = torch.baddbmm(pick(self.biases[layer]), hidden, pick(self.weights[layer]))
        return hidden.squeeze(-1)
