"""Small classifiers for SynthBirds (56 x 56), in four families, and their committed weights.

* ``vgg``: VGG-style with batch norm; its last conv map is 14 x 14 *before* the last max-pool, the
  role VGG16-BN's ``features[40]`` plays in the paper (explained at that conv, before its BN).
* ``resnet``: residual basic blocks; ``mobile``: inverted residuals with depthwise convs
  (the other families of the multi-model PGD figure).
* ``vit``: a small hybrid Vision Transformer, 7 x 7 tokens + CLS over synth_resnet's frozen
  features (ViT-B/16 has 14 x 14 tokens at 224; see :class:`ViTSmall` for why hybrid).
  Each block's ``attn.attn_probs`` (an ``nn.Identity``) outputs the softmax attention
  ``[B, heads, N, N]``, so hooks can read it and its gradient (attention rollout), and each block
  outputs tokens ``[B, N, D]`` (GradCAM on tokens).

>>> model = load_trained("synth_vgg")
>>> model(torch.rand(2, 3, 56, 56)).shape
torch.Size([2, 27])
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from whynot.models.common import CheckpointError, NormalizedModel, load_state_dict_strict

WEIGHTS_DIR = Path(__file__).parent / "weights"
#: Models with committed weights, in training order (synth_vit builds on synth_resnet).
TRAINED_MODELS = ("synth_vgg", "synth_resnet", "synth_mobile", "synth_vit")
CHECKPOINT_FORMAT = "whynot-checkpoint-v1"
INPUT_SIZE = 56


def _conv_bn_relu(c_in: int, c_out: int, **conv) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False, **conv), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class VGGSmall(nn.Module):
    """``features`` (conv-BN-ReLU blocks, max-pools) then ``classifier``, as torchvision's VGG.

    56 -> 28 -> 14 (the last conv) -> 7; one conv at full resolution keeps the thin parts visible.
    """

    def __init__(self, num_classes: int, widths=(16, 32, 64)):
        super().__init__()
        layers: list[nn.Module] = _conv_bn_relu(3, widths[0]) + [nn.MaxPool2d(2)]
        c_in = widths[0]
        for width in widths[1:]:
            layers += _conv_bn_relu(c_in, width) + _conv_bn_relu(width, width) + [nn.MaxPool2d(2)]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(c_in, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetFeatures(nn.Module):
    """The residual feature extractor: a stride-2 stem and two basic blocks, to 14 x 14."""

    stride = 4

    def __init__(self, widths=(32, 64)):
        super().__init__()
        self.out_channels = widths[-1]
        self.stem = nn.Sequential(*_conv_bn_relu(3, widths[0], stride=2))  # 28 x 28
        self.layer1 = BasicBlock(widths[0], widths[0])
        self.layer2 = BasicBlock(widths[0], widths[1], stride=2)  # 14 x 14

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(self.stem(x)))


class ResNetSmall(ResNetFeatures):
    def __init__(self, num_classes: int, widths=(32, 64)):
        super().__init__(widths)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(super().forward(x))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, 1x1 project; residual when shapes agree."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, expand: int = 4):
        super().__init__()
        hidden = c_in * expand
        self.block = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


class MobileSmall(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(3, 24, stride=2),  # 28 x 28
            InvertedResidual(24, 32, stride=2, expand=3),  # 14 x 14
            InvertedResidual(32, 32, expand=3),
            InvertedResidual(32, 64, expand=3),
        )
        self.conv_head = nn.Conv2d(64, 160, 1, bias=False)
        self.head = nn.Sequential(nn.BatchNorm2d(160), nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Dropout(0.2), nn.Linear(160, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv_head(self.features(x)))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_probs = nn.Identity()  # hook point: softmax attention [B, heads, N, N]
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = self.attn_probs((q @ k.transpose(-2, -1) * (dim // self.heads) ** -0.5).softmax(dim=-1))
        return self.proj((attn @ v).transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTSmall(nn.Module):
    """A hybrid ViT (Dosovitskiy et al. 2021, Sec. 3.1): transformer blocks over a CNN's feature map.

    The tokens are 2 x 2 patches of ``backbone``'s 14 x 14 map (7 x 7 tokens + CLS), the
    classifier reads the CLS token. ``backbone`` has synth_resnet's feature extractor, and its
    recipe copies synth_resnet's trained weights into it and freezes them: within our 5-minute
    CPU budget, ViTs trained from scratch (patch-8, or with a trainable conv stem) stayed far
    below the CNNs' accuracy, while the transformer over the frozen features matches them.
    """

    def __init__(self, num_classes: int, dim: int = 96, depth: int = 4, heads: int = 4):
        super().__init__()
        self.backbone = ResNetFeatures()
        self.patch_embed = nn.Conv2d(self.backbone.out_channels, dim, 2, stride=2)
        grid = INPUT_SIZE // (self.backbone.stride * 2)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, grid * grid + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(self.backbone(x)).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(tokens))[:, 0])


ARCHITECTURES = {
    "synth_vgg": (VGGSmall, "net.features.14"),  # the last conv, before its BN, ReLU and max-pool
    "synth_resnet": (ResNetSmall, "net.layer2"),
    "synth_mobile": (MobileSmall, "net.conv_head"),
    "synth_vit": (ViTSmall, None),  # tokens: pass layer="net.blocks.3" and a reshape
}


def _check_name(name: str) -> None:
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown model {name!r}; our models are {', '.join(ARCHITECTURES)}")


def build(name: str, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), meta: dict | None = None) -> NormalizedModel:
    """An untrained model ``name`` (in eval mode), normalising with ``mean``/``std``."""
    from whynot.data.synthetic import CLASS_NAMES

    _check_name(name)
    cls, default_layer = ARCHITECTURES[name]
    model = NormalizedModel(cls(len(CLASS_NAMES)), mean, std, {
        "name": name, "class_names": CLASS_NAMES, "input_size": INPUT_SIZE,
        "default_layer": default_layer, **(meta or {}),
    })
    return model.eval()


def checkpoint_path(name: str) -> Path:
    _check_name(name)
    return WEIGHTS_DIR / f"{name}.pt"


def read_checkpoint(path: Path, name: str) -> dict:
    """Load and validate a checkpoint dict; CheckpointError (with the fix) on anything wrong."""
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; rebuild it with `python -m whynot.models.train --models {name}`.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, garbage bytes, foreign pickles
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({type(error).__name__}: {error}); delete it and "
            f"rebuild with `python -m whynot.models.train --models {name} --force`."
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a whynot checkpoint (expected format {CHECKPOINT_FORMAT!r}).")
    if checkpoint.get("name") != name:
        raise CheckpointError(f"{path} holds {checkpoint.get('name')!r}, not {name!r}.")
    return checkpoint


def load_trained(name: str, device: str | torch.device = "cpu", path: str | Path | None = None) -> NormalizedModel:
    """Our model ``name`` with its committed weights (or those at ``path``), in eval mode.

    Nothing is half-loaded: a corrupt or mismatched file raises CheckpointError.
    """
    _check_name(name)
    checkpoint = read_checkpoint(Path(path) if path else checkpoint_path(name), name)
    config = checkpoint["config"]
    metrics = checkpoint.get("metrics", {})
    model = build(name, config["mean"], config["std"], {"test_accuracy": metrics.get("test_accuracy")})
    load_state_dict_strict(model, checkpoint["state_dict"], str(path or checkpoint_path(name)))
    return model.to(device).eval()
