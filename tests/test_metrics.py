"""FVD, its I3D network and ΔtPSNR: behaviours, file formats and numerical checks (CPU, tiny inputs)."""

from __future__ import annotations

import hashlib
import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor, nn

from features import MeanColourFeatures
from genie_lit.metrics import DeltaPSNR, FrechetVideoDistance, I3DFeatureExtractor, InceptionI3d
from genie_lit.metrics import i3d as i3d_module
from genie_lit.metrics.fvd import _compute_fvd, build_fvd

SMALL = 32  # I3D frame side in tests; the architecture allows it (the final pool is clipped)


class FlatFeatures(nn.Module):
    """Identity features: a clip ``b 1 1 1 d`` is its own ``d``-dimensional feature vector."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, videos: Tensor) -> Tensor:
        return videos.flatten(1)


def _scipy_frechet(mu1, sigma1, mu2, sigma2) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)


@pytest.fixture(scope="module")
def random_i3d() -> I3DFeatureExtractor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return I3DFeatureExtractor(size=SMALL)


def _clips(n: int, t: int = 16, side: int = 24, seed: int = 0, low: float = 0.2, high: float = 0.6) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, t, 3, side, side, generator=generator)


# ---------------------------------------------------------------------------------------------- Fréchet distance


@pytest.mark.parametrize("dim", [8, 64])
def test_frechet_distance_matches_scipy_sqrtm(dim):
    rng = np.random.default_rng(dim)
    samples = [rng.normal(size=(4 * dim, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim) for _ in range(2)]
    mu1, mu2 = (s.mean(axis=0) for s in samples)
    sigma1, sigma2 = (np.cov(s, rowvar=False) for s in samples)
    expected = _scipy_frechet(mu1, sigma1, mu2, sigma2)
    got = _compute_fvd(*(torch.from_numpy(x) for x in (mu1, sigma1, mu2, sigma2)))
    assert got.dtype == torch.float64
    assert abs(got.item() - expected) / abs(expected) < 1e-6


def test_metric_statistics_give_the_same_distance_as_scipy_on_the_samples():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(50, 5)), 0.5 + 2.0 * rng.normal(size=(40, 5))
    fvd = FrechetVideoDistance(feature_extractor=FlatFeatures(5))
    for chunk in np.array_split(real, 3):  # several updates accumulate like one
        fvd.update(torch.from_numpy(chunk).reshape(-1, 1, 1, 1, 5), real=True)
    fvd.update(torch.from_numpy(fake).reshape(-1, 1, 1, 1, 5), real=False)
    expected = _scipy_frechet(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))
    assert fvd.compute().item() == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------------------------------------- FVD behaviour


def test_fvd_of_a_set_against_itself_is_zero_and_grows_with_a_shift(random_i3d):
    videos = _clips(6)
    fvd = FrechetVideoDistance(feature_extractor=random_i3d, reset_real_features=False)
    fvd.update(videos, real=True)
    values = []
    for shift in (0.0, 0.1, 0.2, 0.35):
        fvd.update((videos + shift).clamp(0, 1), real=False)
        values.append(fvd.compute().item())
        fvd.reset()
    scale = fvd.real_features_cov_sum.trace().item() / fvd.real_features_num_samples.item()
    assert abs(values[0]) < 1e-8 * scale
    assert all(a < b for a, b in itertools.pairwise(values)), values


def test_reset_keeps_real_statistics_only_when_asked():
    videos = _clips(4, t=4)
    for keep in (True, False):
        fvd = FrechetVideoDistance(feature_extractor=MeanColourFeatures(), reset_real_features=not keep)
        fvd.update(videos, real=True)
        fvd.update(videos[:3], real=False)
        fvd.reset()
        assert fvd.fake_features_num_samples.item() == 0
        assert fvd.real_features_num_samples.item() == (4 if keep else 0)


def test_compute_needs_two_clips_of_each_kind():
    fvd = FrechetVideoDistance(feature_extractor=MeanColourFeatures())
    fvd.update(_clips(5, t=4), real=True)
    fvd.update(_clips(1, t=4, seed=1), real=False)
    with pytest.raises(RuntimeError, match="at least 2 real and 2 generated"):
        fvd.compute()


def test_extractor_is_frozen_and_not_in_state_dict():
    parent = nn.Module()
    parent.fvd = FrechetVideoDistance(feature_extractor=MeanColourFeatures())
    parent.train()
    assert not parent.fvd.feature_extractor.training
    parent.fvd.persistent(True)
    parent.fvd.update(_clips(3, t=4), real=True)
    state = parent.state_dict()
    assert not any("feature_extractor" in key for key in state)
    assert "fvd.real_features_cov_sum" in state
    other = nn.Module()
    other.fvd = FrechetVideoDistance(feature_extractor=MeanColourFeatures())
    other.fvd.feature_extractor.proj.weight.data.fill_(7.0)
    other.load_state_dict(state, strict=True)
    assert other.fvd.real_features_num_samples.item() == 3
    assert torch.all(other.fvd.feature_extractor.proj.weight == 7.0)  # loading never touches the extractor


def test_log_names_follow_where_the_features_come_from(tmp_path, random_i3d):
    """Only the published Kinetics-400 I3D, recognised by its file's SHA-256, is logged as plain
    ``fvd``. Any other weights file, even a loadable random state dict, is ``fvd_custom_i3d``; the
    package's own seeded initialisation, even saved to a file, is ``fvd_random_i3d``."""
    user_file = tmp_path / "i3d.pt"
    state = {k: v.clone() for k, v in random_i3d.network.state_dict().items()}
    state["Conv3d_1a_7x7.conv3d.weight"] *= 1.01  # any weights other than the package's own initialisation
    torch.save(state, user_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        random_default = FrechetVideoDistance()
    from_file = FrechetVideoDistance(weights_path=user_file)
    custom = FrechetVideoDistance(feature_extractor=MeanColourFeatures())
    assert (random_default.is_standard, random_default.log_name) == (False, "fvd_random_i3d")
    assert (from_file.is_standard, from_file.log_name) == (False, "fvd_custom_i3d")
    assert build_fvd(str(user_file), size=SMALL)[1] == f"fvd_custom_i3d_{SMALL}px"
    assert (custom.is_standard, custom.log_name) == (False, "fvd_custom_features")
    with pytest.raises(ValueError, match="not both"):
        FrechetVideoDistance(feature_extractor=MeanColourFeatures(), weights_path=user_file)


def test_only_a_file_with_a_known_published_hash_is_standard_fvd(tmp_path, random_i3d, monkeypatch):
    """The label follows the file's bytes: registering this file's SHA-256 as published makes it
    ``fvd``; one changed weight gives another hash and ``fvd_custom_i3d`` again."""
    path = tmp_path / "published.pt"
    state = {k: v.clone() for k, v in random_i3d.network.state_dict().items()}
    state["Conv3d_1a_7x7.conv3d.weight"] *= 1.01  # not the package's own seeded initialisation
    torch.save(state, path)
    digest = i3d_module.file_sha256(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert i3d_module.KNOWN_I3D_SHA256 == {}  # no hash ships until it is checked against the published file
    monkeypatch.setitem(i3d_module.KNOWN_I3D_SHA256, digest, "test stand-in for the published weights")
    known = I3DFeatureExtractor(weights_path=path, size=SMALL)
    assert (known.is_standard, known.log_name, known.weights_sha256) == (True, "fvd", digest)
    assert FrechetVideoDistance(weights_path=path).log_name == "fvd"
    state["logits.conv3d.bias"] += 1e-3
    torch.save(state, path)
    changed = I3DFeatureExtractor(weights_path=path, size=SMALL)
    assert (changed.is_standard, changed.log_name) == (False, "fvd_custom_i3d")


def test_fvd_from_features_equals_the_metric(random_i3d):
    from genie_lit.metrics.fvd import fvd_from_features

    real, fake = torch.randn(9, 5, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64) + 0.3
    metric = FrechetVideoDistance(feature_extractor=FlatFeatures(5))
    metric.update(real.reshape(-1, 1, 1, 1, 5), real=True)
    metric.update(fake.reshape(-1, 1, 1, 1, 5), real=False)
    assert fvd_from_features(real, fake).item() == pytest.approx(metric.compute().item(), rel=1e-9)
    with pytest.raises(ValueError, match="at least 2"):
        fvd_from_features(real[:1], fake)


# ---------------------------------------------------------------------------------------------- I3D


def test_i3d_keys_match_the_piergiaj_port():
    state = InceptionI3d().state_dict()
    for key in ("Conv3d_1a_7x7.conv3d.weight", "Conv3d_1a_7x7.bn.running_mean", "Conv3d_2c_3x3.bn.running_var",
                "Mixed_3b.b1b.conv3d.weight", "Mixed_4f.b3b.bn.bias", "Mixed_5c.b2b.conv3d.weight",
                "logits.conv3d.weight", "logits.conv3d.bias"):
        assert key in state
    assert len(state) == 344  # 57 conv + batch-norm units x 6 tensors, plus the logits' weight and bias
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    assert sum(p.numel() for p in InceptionI3d().parameters()) == 12_697_264


def test_same_padding_is_tensorflows():
    # TF: total = max((ceil(n / s) - 1) * s + k - n, 0), the extra pixel at the end.
    for n, k, s in [(224, 7, 2), (16, 7, 2), (56, 3, 2), (7, 2, 2), (9, 3, 1), (5, 2, 2)]:
        x = torch.zeros(1, 1, n, 1, 1)
        padded = i3d_module._pad_same(x, (k, 1, 1), (s, 1, 1))
        assert padded.shape[2] - n == max((math.ceil(n / s) - 1) * s + k - n, 0)


def test_i3d_at_224_and_16_frames_gives_400_features_with_the_published_shapes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extractor = I3DFeatureExtractor()
    shapes = {}
    for name in ("Conv3d_1a_7x7", "MaxPool3d_3a_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c"):
        getattr(extractor.network, name).register_forward_hook(
            lambda module, args, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
    features = extractor(_clips(1, t=16, side=40))
    assert features.shape == (1, 400) and torch.isfinite(features).all()
    assert shapes == {"Conv3d_1a_7x7": (64, 8, 112, 112), "MaxPool3d_3a_3x3": (192, 8, 28, 28),
                      "Mixed_3c": (480, 8, 28, 28), "Mixed_4f": (832, 4, 14, 14), "Mixed_5c": (1024, 2, 7, 7)}


def test_state_dict_file_round_trip_loads_strictly(tmp_path, random_i3d):
    state = random_i3d.network.state_dict()
    legacy = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # pre-0.4.1 checkpoints
    videos = _clips(2, t=16)
    expected = random_i3d(videos)
    for name, saved in (("plain.pt", state), ("legacy.pt", legacy), ("wrapped.pt", {"state_dict": state}),
                        ("parallel.pt", {f"module.{k}": v for k, v in state.items()})):
        torch.save(saved, tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = I3DFeatureExtractor(weights_path=tmp_path / name, size=SMALL)
        # the package's own seeded random network, saved to a file, is still random weights
        assert loaded.weights_format == "random" and not loaded.is_standard and loaded.log_name == "fvd_random_i3d"
        torch.testing.assert_close(loaded(videos), expected, rtol=0, atol=0)

    broken = dict(state)
    broken.pop("Mixed_4c.b1b.bn.running_mean")
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match=r"(?s)broken\.pt.*Missing key.*Mixed_4c\.b1b\.bn\.running_mean"):
        I3DFeatureExtractor(weights_path=tmp_path / "broken.pt")


class StyleGANVLikeI3D(nn.Module):
    """Stands in for StyleGAN-V's i3d_torchscript.pt: same call signature, 400-d output."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 400)

    def forward(self, x: Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False) -> Tensor:
        assert not rescale and not resize and return_features
        return self.proj(x.mean(dim=(2, 3, 4)))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_torchscript_files_load_with_the_stylegan_v_call_or_a_plain_call(tmp_path, random_i3d):
    videos = _clips(2, t=16)
    scripted = torch.jit.script(StyleGANVLikeI3D())
    scripted.save(str(tmp_path / "i3d_torchscript.pt"))
    loaded = I3DFeatureExtractor(weights_path=tmp_path / "i3d_torchscript.pt", size=SMALL)
    assert loaded.weights_format == "torchscript" and loaded.log_name == "fvd_custom_i3d"  # not the published hash
    x = torch.nn.functional.interpolate(videos.flatten(0, 1), size=(SMALL, SMALL), mode="bilinear")
    expected = scripted.proj((x * 2 - 1).mean(dim=(2, 3)).reshape(2, 16, 3).mean(1))
    torch.testing.assert_close(loaded(videos), expected)
    assert loaded.network.keyword_call is True

    # A plain TorchScript I3D (here our own network, traced) is called without keywords.
    probe = 2 * torch.nn.functional.interpolate(videos.flatten(0, 1), size=(SMALL, SMALL), mode="bilinear") - 1
    probe = probe.reshape(2, 16, 3, SMALL, SMALL).transpose(1, 2)
    traced = torch.jit.trace(random_i3d.network, probe, check_trace=False)
    traced.save(str(tmp_path / "traced.pt"))
    plain = I3DFeatureExtractor(weights_path=tmp_path / "traced.pt", size=SMALL)
    torch.testing.assert_close(plain(videos), random_i3d(videos))
    assert plain.network.keyword_call is False

    fvd = FrechetVideoDistance(weights_path=tmp_path / "i3d_torchscript.pt")
    fvd.persistent(True)
    assert not any("feature_extractor" in key for key in fvd.state_dict())
    fvd.load_state_dict(fvd.state_dict(), strict=True)


def test_a_file_of_neither_format_names_the_file_and_both_formats(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"definitely not a checkpoint")
    not_tensors = tmp_path / "config.pt"
    torch.save({"lr": 0.1}, not_tensors)
    for path in (junk, not_tensors):
        with pytest.raises(ValueError, match=rf"(?s){path.name}.*state dict.*TorchScript"):
            I3DFeatureExtractor(weights_path=path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        I3DFeatureExtractor(weights_path=tmp_path / "missing.pt")


def test_random_i3d_is_seeded_warns_once_and_leaves_the_global_rng_alone(monkeypatch):
    monkeypatch.setattr(i3d_module, "_warned_random_weights", False)
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = I3DFeatureExtractor(size=SMALL), I3DFeatureExtractor(size=SMALL)
    assert torch.equal(torch.rand(3), expected_draw)
    assert [str(w.message) for w in caught if "NOT comparable" in str(w.message)].__len__() == 1
    assert not first.is_standard and first.log_name == "fvd_random_i3d"
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_clip_length_is_cut_or_padded_with_the_last_frame(random_i3d):
    long_clip = _clips(2, t=20)
    torch.testing.assert_close(random_i3d(long_clip), random_i3d(long_clip[:, :16]))
    short = long_clip[:, :10]
    padded = torch.cat([short, short[:, -1:].repeat(1, 6, 1, 1, 1)], dim=1)
    random_i3d._warned_short = False
    with pytest.warns(UserWarning, match="padded to 16"):
        got = random_i3d(short)
    torch.testing.assert_close(got, random_i3d(padded))
    random_i3d.train()
    assert not random_i3d.training and not random_i3d.network.training


# ---------------------------------------------------------------------------------------------- ΔtPSNR


def _delta_case() -> tuple[Tensor, Tensor, Tensor]:
    """Two clips of 5 frames; only frame 4 (index 3) matters, so the other frames are noise.
    Real frame 4 is black; inferred errs by 0.1 (clip 0, 20 dB) and 0.01 (clip 1, 40 dB);
    random errs by 0.2 in both (13.979 dB)."""
    generator = torch.Generator().manual_seed(0)
    real, inferred, rand = (torch.rand(2, 5, 3, 4, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    real[:, 3] = 0.0
    inferred[0, 3], inferred[1, 3] = 0.1, 0.01
    rand[:, 3] = 0.2
    return real, inferred, rand


def test_delta_psnr_hand_made_case():
    real, inferred, rand = _delta_case()
    metric = DeltaPSNR(t=4)
    metric.update(real, inferred, rand)
    out = metric.compute()
    random_db = 10 * math.log10(1 / 0.04)
    assert out["psnr_inferred"].item() == pytest.approx(30.0, abs=1e-9)  # mean of 20 and 40 dB, per clip
    assert out["psnr_random"].item() == pytest.approx(random_db, abs=1e-9)
    assert out["delta_psnr"].item() == pytest.approx(30.0 - random_db, abs=1e-9)

    split, scaled = DeltaPSNR(t=4), DeltaPSNR(t=4, data_range=255.0)
    split.update(real[:1], inferred[:1], rand[:1])
    split.update(real[1:], inferred[1:], rand[1:])
    scaled.update(real * 255, inferred * 255, rand * 255)
    for other in (split.compute(), scaled.compute()):
        for key in out:
            assert other[key].item() == pytest.approx(out[key].item(), abs=1e-9)


def test_delta_psnr_compares_only_frame_t_and_caps_exact_frames():
    real, _, rand = _delta_case()
    metric = DeltaPSNR(t=2)
    metric.update(real, real.clone(), rand)  # frame 2 reproduced exactly: 100 dB, not infinity
    assert metric.compute()["psnr_inferred"].item() == pytest.approx(100.0)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_delta_psnr_errors():
    real, inferred, rand = _delta_case()
    with pytest.raises(ValueError, match="same shape"):
        DeltaPSNR().update(real, inferred[:, :4], rand)
    with pytest.raises(ValueError, match="at least 6 frames"):
        DeltaPSNR(t=6).update(real, inferred, rand)
    with pytest.raises(ValueError, match="t >= 2"):
        DeltaPSNR(t=1)
    with pytest.raises(RuntimeError, match="before any clip"):
        DeltaPSNR().compute()
