"""I3D, the feature network of FVD: Inception-v1 inflated to 3D.

Carreira & Zisserman, 2017, "Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset"
(arXiv 1705.07750), §2.4 and Fig. 3: every 2D Inception-v1 kernel becomes a 3D one, the first
convolution and the last two max-pools also stride in time. FVD (Unterthiner et al., 2018, §3)
uses the Kinetics-400 classifier's logits, averaged over time, as a 400-d embedding of a clip.

:class:`InceptionI3d` reproduces the architecture with the module and parameter names of the
widely used PyTorch port piergiaj/pytorch-i3d (``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_3b.b1b.bn.running_mean``, ``logits.conv3d.bias``, ...) and its TensorFlow-style "SAME"
padding, so a state dict saved from that port loads with ``strict=True`` and computes the same
function. :func:`load_i3d` also accepts a TorchScript I3D (e.g. StyleGAN-V's ``i3d_torchscript.pt``,
a port of the TF-Hub ``i3d-kinetics-400/1`` module used by the reference FVD code).

:class:`I3DFeatureExtractor` is the FVD feature extractor: ``b t c h w`` video in [0, 1] ->
``b 400`` features. Nothing is ever downloaded: without a weights file the network is randomly
initialised from a fixed seed, the extractor warns once per process, and ``is_standard`` is False.

Which weights make FVD comparable to published numbers is decided by the file's SHA-256, never by
its format: only a file whose hash is in :data:`KNOWN_I3D_SHA256` (the published Kinetics-400 I3D
weights, hashes documented in the README section "FVD and the I3D weights") gives ``fvd``; any
other loadable file gives ``fvd_custom_i3d``, and the package's own seeded random network (saved
to a file or not) ``fvd_random_i3d``.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

ACCEPTED_FORMATS = (
    "accepted formats: (1) a state dict saved with torch.save whose keys are those of "
    "piergiaj/pytorch-i3d's InceptionI3d (e.g. 'Conv3d_1a_7x7.conv3d.weight', 'logits.conv3d.bias'); "
    "(2) a TorchScript I3D module (e.g. StyleGAN-V's i3d_torchscript.pt) mapping 'b c t h w' video "
    "in [-1, 1] to features"
)
# SHA-256 of I3D weight files known to be the published Kinetics-400 network -> what the file is.
# Empty until a hash has been checked against the published file itself: this package cannot
# download it, and an unchecked hash would label arbitrary weights as standard. Add an entry only
# after computing `sha256sum` of the file from its publisher (see the README section "FVD and the
# I3D weights"); a caller may also pass ``known_sha256`` to :class:`I3DFeatureExtractor`.
KNOWN_I3D_SHA256: dict[str, str] = {}
MIN_FRAMES = 9  # fewer frames leave the final 2-frame temporal average pool with nothing to pool

# name -> (input channels, widths of branch 0, 1a, 1b, 2a, 2b, 3b); Carreira & Zisserman Fig. 3.
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}
_warned_random_weights = False


def _pad_same(x: Tensor, kernel: Sequence[int], stride: Sequence[int]) -> Tensor:
    """TensorFlow "SAME" padding of ``b c t h w`` for the given kernel and stride (extra pad at the end)."""
    pads: list[int] = []
    for size, k, s in zip(x.shape[2:], kernel, stride):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads = [total // 2, total - total // 2] + pads  # F.pad lists the last dimension first
    return F.pad(x, pads)


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm3d (eps 1e-3) + ReLU with "SAME" padding; the logits unit has
    a bias and neither batch norm nor activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int] = (1, 1, 1),
                 stride: Sequence[int] = (1, 1, 1), batch_norm: bool = True, activation: bool = True) -> None:
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, bias=not batch_norm)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPool3dSame(nn.Module):
    """Max pool with "SAME" padding. Zero padding equals TensorFlow's since inputs follow a ReLU."""

    def __init__(self, kernel: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Inflated Inception module: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1x1."""

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = widths
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3)
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x)))
        return torch.cat(branches, dim=1)


class InceptionI3d(nn.Module):
    """RGB I3D classifier: ``b 3 t h w`` in [-1, 1] -> per-time-step logits ``b num_classes t'``.

    At 224x224 and 16 frames ``t' = 1``. The final average pool is 2x7x7 as in the original; on
    smaller inputs its kernel is clipped to the feature map, which leaves 224x224 unchanged and
    lets tests run the same network on small clips.
    """

    def __init__(self, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = [
            ("Conv3d_1a_7x7", Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))),
            ("MaxPool3d_2a_3x3", MaxPool3dSame((1, 3, 3), (1, 2, 2))),
            ("Conv3d_2b_1x1", Unit3D(64, 64)),
            ("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3))),
            ("MaxPool3d_3a_3x3", MaxPool3dSame((1, 3, 3), (1, 2, 2))),
        ]
        for name, (channels, widths) in _MIXED.items():
            if name == "Mixed_4b":
                layers.append(("MaxPool3d_4a_3x3", MaxPool3dSame((3, 3, 3), (2, 2, 2))))
            elif name == "Mixed_5b":
                layers.append(("MaxPool3d_5a_2x2", MaxPool3dSame((2, 2, 2), (2, 2, 2))))
            layers.append((name, InceptionBlock(channels, widths)))
        for name, module in layers:
            self.add_module(name, module)
        self.endpoints = tuple(name for name, _ in layers)
        self.dropout = nn.Dropout(dropout)
        self.logits = Unit3D(1024, num_classes, batch_norm=False, activation=False)
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        for name in self.endpoints:
            x = getattr(self, name)(x)
        kernel = (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4]))
        x = self.logits(self.dropout(F.avg_pool3d(x, kernel, stride=1)))
        return x.mean(dim=(3, 4))  # spatially 1x1 at 224x224: the "spatial squeeze"

    @torch.no_grad()
    def reset_parameters_seeded(self, seed: int) -> InceptionI3d:
        """He-normal convolutions from a private generator (the global RNG is untouched), so every
        process builds the same random network and activations keep their scale through the depth."""
        generator = torch.Generator().manual_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                gain = "relu" if module.bias is None else "linear"
                nn.init.kaiming_normal_(module.weight, nonlinearity=gain, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm3d):
                module.reset_parameters()
        return self

    @torch.no_grad()
    def is_seeded_initialisation(self, seed: int = 0) -> bool:
        """True when the first convolution holds exactly what :meth:`reset_parameters_seeded` draws
        for ``seed``: the package's own random network (saved to a file), not trained weights."""
        first = next(m for m in self.modules() if isinstance(m, nn.Conv3d))
        drawn = torch.empty_like(first.weight)
        gain = "relu" if first.bias is None else "linear"
        nn.init.kaiming_normal_(drawn, nonlinearity=gain, generator=torch.Generator().manual_seed(seed))
        return torch.equal(drawn, first.weight)


class _TorchScriptI3D(nn.Module):
    """Adapter for a TorchScript I3D: ``b c t h w`` in [-1, 1] -> ``b f``. A module whose ``forward``
    takes StyleGAN-V's keywords is called as ``(x, rescale=False, resize=False, return_features=True)``
    (the input is already resized and in [-1, 1]), any other as ``(x)``; a ``b f t`` output is
    averaged over time."""

    _KEYWORDS = frozenset({"rescale", "resize", "return_features"})

    def __init__(self, module: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.module = module
        arguments = {argument.name for argument in module.forward.schema.arguments}
        self.keyword_call = self._KEYWORDS <= arguments

    def forward(self, x: Tensor) -> Tensor:
        if self.keyword_call:
            out = self.module(x, rescale=False, resize=False, return_features=True)
        else:
            out = self.module(x)
        if out.dim() > 2:
            out = out.flatten(2).mean(dim=2)
        return out


def _as_state_dict(obj: object) -> dict[str, Tensor] | None:
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        return None
    keys = list(obj)
    if all(k.startswith("module.") for k in keys):  # saved from DataParallel
        return {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def _try_jit_load(path: str) -> torch.jit.ScriptModule | None:
    """The TorchScript module in ``path``, or None when the file is not a TorchScript archive."""
    try:
        with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; the format is still read
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            return torch.jit.load(path, map_location="cpu")
    except (RuntimeError, ValueError):
        return None


def load_i3d(path: str | os.PathLike) -> tuple[nn.Module, str]:
    """Load I3D weights from a local file; returns ``(network, format)`` with format
    ``"state_dict"`` or ``"torchscript"``. The network maps ``b 3 t h w`` in [-1, 1] to logits
    (``b 400 t'`` for a state dict, ``b f`` for TorchScript after :class:`_TorchScriptI3D`)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"I3D weights file {path!r} does not exist; {ACCEPTED_FORMATS}.")
    scripted = _try_jit_load(path)
    if scripted is not None:
        return _TorchScriptI3D(scripted), "torchscript"
    try:
        state_dict = _as_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:
        raise ValueError(f"{path!r} is not an I3D weights file ({type(err).__name__}); {ACCEPTED_FORMATS}.") from err
    if state_dict is None:
        raise ValueError(f"{path!r} holds no tensor state dict; {ACCEPTED_FORMATS}.")
    num_classes = state_dict["logits.conv3d.bias"].shape[0] if "logits.conv3d.bias" in state_dict else 400
    network = InceptionI3d(num_classes=num_classes)
    try:
        network.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path!r} is a state dict but not of InceptionI3d: {err}\n{ACCEPTED_FORMATS}.") from err
    return network, "state_dict"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fit_clip_length(videos: Tensor, num_frames: int) -> Tensor:
    """``b t c h w`` -> ``b num_frames c h w``: the first ``num_frames`` frames, or, for a shorter
    clip, the clip followed by copies of its last frame (no temporal resampling, which would change
    the apparent speed of motion)."""
    t = videos.shape[1]
    if t >= num_frames:
        return videos[:, :num_frames]
    return torch.cat([videos, videos[:, -1:].expand(-1, num_frames - t, -1, -1, -1)], dim=1)


class I3DFeatureExtractor(nn.Module):
    """FVD features: ``b t c h w`` video in [0, 1] -> ``b 400`` Kinetics-400 logits averaged over time.

    Per clip: keep ``num_frames`` frames (:func:`fit_clip_length`; a shorter clip is padded by
    repeating its last frame, with a warning), clamp to [0, 1], resize every frame to ``size x size``
    (bilinear, ``align_corners=False``, no antialiasing, aspect ratio not kept, as the reference
    FVD code stretches to 224x224), scale to [-1, 1], run I3D. Always in eval mode, without grad.

    Args:
        weights_path: local I3D weights (see :func:`load_i3d`). ``None``: a randomly initialised
            I3D (seeded), which yields numbers that are *not* comparable to published FVD.
        size: frame side fed to I3D; 224 is the standard. Smaller sizes only serve tests.
        num_frames: frames per clip fed to I3D (16 standard, at least 9).
        seed: seed of the random network when ``weights_path`` is None.
        known_sha256: hashes of weight files that count as the published I3D (default:
            :data:`KNOWN_I3D_SHA256`); only such a file makes :attr:`is_standard` True.
    """

    num_features = 400

    def __init__(self, weights_path: str | os.PathLike | None = None, size: int = 224, num_frames: int = 16,
                 seed: int = 0, known_sha256: Mapping[str, str] | None = None) -> None:
        super().__init__()
        if num_frames < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per clip, got num_frames={num_frames}.")
        self.size, self.num_frames, self.weights_path = size, num_frames, weights_path
        self.weights_sha256: str | None = None
        self.known_as: str | None = None
        if weights_path is None:
            with torch.random.fork_rng(devices=[]):  # default init draws from the global RNG: restore it
                self.network: nn.Module = InceptionI3d().reset_parameters_seeded(seed)
            self.weights_format = "random"
            _warn_random_weights_once()
        else:
            self.network, self.weights_format = load_i3d(weights_path)
            self.weights_sha256 = file_sha256(weights_path)
            self.known_as = dict(KNOWN_I3D_SHA256 if known_sha256 is None else known_sha256).get(self.weights_sha256)
            if isinstance(self.network, InceptionI3d) and self.network.is_seeded_initialisation(seed):
                self.weights_format = "random"  # a file of the package's own random network
                _warn_random_weights_once()
        self.network.requires_grad_(False)
        self._warned_short = False
        self.eval()

    @property
    def is_standard(self) -> bool:
        """True only when the weights file's SHA-256 is that of the published Kinetics-400 I3D
        (:data:`KNOWN_I3D_SHA256`). Only then is FVD comparable to papers."""
        return self.weights_format != "random" and self.known_as is not None

    @property
    def log_name(self) -> str:
        """``fvd`` (published weights), ``fvd_custom_i3d`` (any other file) or ``fvd_random_i3d``."""
        if self.weights_format == "random":
            return "fvd_random_i3d"
        return "fvd" if self.is_standard else "fvd_custom_i3d"

    def train(self, mode: bool = True) -> I3DFeatureExtractor:
        return super().train(False)  # a frozen feature network: batch norm always uses its statistics

    @torch.no_grad()
    def forward(self, videos: Tensor) -> Tensor:
        if videos.dim() != 5 or videos.shape[2] != 3:
            raise ValueError(f"Expected RGB video 'b t c h w' with c = 3, got shape {tuple(videos.shape)}.")
        if videos.shape[1] < self.num_frames and not self._warned_short:
            warnings.warn(f"Clips of {videos.shape[1]} frames are padded to {self.num_frames} by repeating "
                          "their last frame; FVD on such clips is not comparable to 16-frame FVD.", stacklevel=2)
            self._warned_short = True
        videos = fit_clip_length(videos.float(), self.num_frames).clamp(0.0, 1.0)
        b = videos.shape[0]
        frames = F.interpolate(rearrange(videos, "b t c h w -> (b t) c h w"), size=(self.size, self.size),
                               mode="bilinear", align_corners=False, antialias=False)
        x = rearrange(frames, "(b t) c h w -> b c t h w", b=b) * 2.0 - 1.0
        logits = self.network(x)
        return logits.mean(dim=2) if logits.dim() == 3 else logits


def _warn_random_weights_once() -> None:
    global _warned_random_weights
    if not _warned_random_weights:
        _warned_random_weights = True
        warnings.warn("No I3D weights file given: FVD is computed with a randomly initialised (seeded) I3D and is "
                      "NOT comparable to published FVD; it is logged as 'fvd_random_i3d'. Pass weights_path= "
                      "(see the README section 'FVD and the I3D weights'). Nothing is downloaded.", stacklevel=3)
