"""StyleGAN-V generator, discriminators and positional encodings (tiny widths, 32x32, CPU)."""

import pytest
import torch

from registry import DISCRIMINATORS, GENERATORS, POSITIONAL_ENCODINGS
from registry.interfaces import PositionalEncoding, VideoDiscriminator, VideoGenerator
from stylegan_v.motion import MotionNoise

TINY = dict(resolution=32, channel_base=128, channel_max=16)
TINY_G = dict(TINY, z_dim=16, w_dim=16, motion_z_dim=16, motion_dim=16)


def tiny_g(seed=0, **kwargs):
    torch.manual_seed(seed)
    return GENERATORS.build({"_name_": "stylegan_v", **TINY_G, **kwargs}).eval()


def tiny_d(name="stylegan_v", seed=0, **kwargs):
    torch.manual_seed(seed)
    return DISCRIMINATORS.build({"_name_": name, **TINY, **kwargs})


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def G():
    return tiny_g()


# ------------------------------------------------------------------------------------------ sizes


def test_official_parameter_totals():
    with torch.device("meta"):
        g = GENERATORS.build("stylegan_v", resolution=256)
        d = DISCRIMINATORS.build("stylegan_v", resolution=256, num_frames=3)
    assert count(g) == 32_105_941
    assert (count(g.mapping), count(g.motion), count(g.time_encoder)) == (525_312, 5_768_192, 524_288)
    assert count(g.synthesis) == 32_105_941 - 525_312 - 5_768_192 - 524_288
    assert g.synthesis.blocks[0].conv1.in_channels == 1024  # const 512 ‖ v(t) 512
    assert count(d) == 25_333_568
    assert d.clip_blocks[0].in_channels == 768 and d.frame_blocks[-1].out_channels == 256


# ------------------------------------------------------------------------------------------ generator


@pytest.mark.parametrize("times", [[0.0, 0.25, 7.5], [0.0, 0.0, 0.0], [1e5, 1e5 + 0.5, 1e5 + 33]])
def test_generator_shapes_and_range(G, times):
    z = torch.randn(2, 16)
    t = torch.tensor([times, times])
    noise = G.sample_motion_noise(2, max(times))
    with torch.no_grad():
        video = G(z, t, motion_noise=noise)
    assert isinstance(G, VideoGenerator) and video.shape == (2, 3, 3, 32, 32) and video.dtype == torch.float32
    assert torch.isfinite(video).all()
    sampled = G.generate_long(z, t, chunk_size=2, motion_noise=noise)
    assert sampled.shape == video.shape and sampled.dtype == torch.float32 and sampled.abs().max() <= 1


# Chunked generation evaluates the motion codes over other noise windows and the synthesis network
# over other batch shapes, so BLAS may round differently (no library promises bit-equal results
# across shapes). The time path is float64: a rounding of u (rel. 1e-16) moves the phase ω·s·t
# (|ω·s·t| <= 2·(2π/16)·1.1e5 ≈ 9e4 rad) by ~1e-11 rad, so v(t) agrees to float32 rounding, 6e-8
# relative. The float32 synthesis network then adds a few ulps per layer on values of order 1:
# 1e-5 is far above that and far below any real error (one float32 ulp of a frequency scale would
# already move the frames by ~1e-3 at t = 1e5).
CHUNK_ATOL = 1e-5


@pytest.mark.parametrize("t0", [0.0, 1e5])
def test_chunked_generation_equals_one_shot_at_large_times(G, t0):
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    t = t0 + torch.tensor([[0.0, 0.5, 33.0], [0.0, 0.5, 33.0]], dtype=torch.float64)
    noise = G.sample_motion_noise(2, float(t.max()), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        one_shot = G(z, t, motion_noise=noise).clamp(-1, 1)
        v_all = G.time_embedding(t, noise)
        v_per_frame = torch.stack([G.time_embedding(t[:, i : i + 1], noise) for i in range(3)], dim=1)  # [B, T, v]
    chunked = G.generate_long(z, t, chunk_size=2, motion_noise=noise)
    torch.testing.assert_close(chunked, one_shot, atol=CHUNK_ATOL, rtol=0)
    torch.testing.assert_close(v_per_frame.reshape(6, -1), v_all, atol=1e-6, rtol=0)


def test_time_embedding_accepts_float64_times(G):
    noise = G.sample_motion_noise(2, 100.0, generator=torch.Generator().manual_seed(0))
    t64 = torch.tensor([[0.0, 3.5, 99.0], [1.0, 2.0, 80.25]], dtype=torch.float64)
    with torch.no_grad():
        v64 = G.time_embedding(t64, noise)
        v32 = G.time_embedding(t64.float(), noise)
    assert v64.dtype == torch.float32
    torch.testing.assert_close(v64, v32)


def test_chunked_long_generation_equals_one_shot(G):
    z = torch.randn(2, 16)
    t = torch.arange(40, dtype=torch.float32).repeat(2, 1) * 1.5
    noise = G.sample_motion_noise(2, float(t.max()), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        one_shot = G(z, t, motion_noise=noise).clamp(-1, 1)
    chunked = G.generate_long(z, t, chunk_size=7, motion_noise=noise)
    torch.testing.assert_close(chunked, one_shot, atol=1e-4, rtol=1e-4)
    # the same seeded generator gives the same video without passing the noise explicitly
    again = G.generate_long(z, t, chunk_size=16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(again, one_shot, atol=1e-4, rtol=1e-4)


def test_motion_codes_are_stationary_under_extension(G):
    noise = MotionNoise(torch.tensor([11, 12]), dim=16)
    short = noise.window(torch.tensor([0, 5]), 30)
    long = noise.window(torch.tensor([0, 5]), 500)
    torch.testing.assert_close(long[:, :30], short)
    torch.testing.assert_close(noise.window(torch.tensor([70, 75]), 10), long[:, 70:80])
    # v(t) at fixed times does not change when the video (its noise / its time range) is extended
    with torch.no_grad():
        v_short = G.time_embedding(torch.tensor([[3.0, 40.5], [8.0, 9.0]]), noise)
        v_long = G.time_embedding(torch.tensor([[3.0, 40.5, 3000.0], [8.0, 9.0, 5000.25]]), noise)
    torch.testing.assert_close(v_long.view(2, 3, -1)[:, :2].reshape(4, -1), v_short, atol=1e-5, rtol=1e-5)


def test_no_encoding_gives_static_videos():
    g = tiny_g(positional_encoding="none")
    assert g.motion is None and g.sample_motion_noise(2, 100.0) is None
    with torch.no_grad():
        video = g(torch.randn(2, 16), torch.tensor([[0.0, 3.5, 1e4], [1.0, 2.0, 3.0]]))
    torch.testing.assert_close(video[:, 1:], video[:, :1].expand(-1, 2, -1, -1, -1))


def test_truncation_and_determinism():
    g1, g2 = tiny_g(seed=5), tiny_g(seed=5)
    z, t = torch.randn(2, 16), torch.tensor([[0.0, 4.0], [2.0, 9.5]])

    def gen():
        return torch.Generator().manual_seed(7)

    a = torch.cat(list(g1.iter_frames(z, t, generator=gen())), 1)
    b = torch.cat(list(g2.iter_frames(z, t, generator=gen())), 1)
    torch.testing.assert_close(a, b)
    c = torch.cat(list(g2.iter_frames(z, t, generator=torch.Generator().manual_seed(8))), 1)
    assert not torch.allclose(a, c), "different motion seeds must give different motion"
    g1.train()
    g1(torch.randn(64, 16), t[:1].expand(64, -1))  # move w_avg
    g1.eval()
    with torch.no_grad():
        w0 = g1.mapping(torch.randn(3, 16), truncation_psi=0.0)
    torch.testing.assert_close(w0, g1.mapping.w_avg.expand(3, -1))


@pytest.mark.parametrize("injection", ["concat_w", "sum_w"])
def test_alternative_time_injections(injection):
    enc = {"_name_": "acyclic", "num_frequencies": 8}  # v is 16-d = w_dim, so sum_w applies
    g = tiny_g(time_injection=injection, positional_encoding=enc)
    expected_style = 32 if injection == "concat_w" else 16
    assert g.synthesis.blocks[-1].conv1.affine.in_features == expected_style
    assert g.synthesis.blocks[0].conv1.in_channels == 16  # v no longer enters the input
    video = g(torch.randn(2, 16), torch.tensor([[0.0, 5.0], [1.0, 30.0]]))
    assert video.shape == (2, 2, 3, 32, 32) and torch.isfinite(video).all()


def test_generator_errors_name_the_problem(G):
    with pytest.raises(ValueError, match="time_injection"):
        tiny_g(time_injection="add")
    with pytest.raises(ValueError, match="out_dim == w_dim"):
        tiny_g(time_injection="sum_w")  # acyclic v is 512-d, w is 16-d
    with pytest.raises(ValueError, match=">= 0"):
        G(torch.randn(1, 16), torch.tensor([[-1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"t \(expected \[B, T\]"):
        G(torch.randn(2, 16), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="positions but these times need"):
        G(torch.randn(1, 16), torch.tensor([[0.0, 100.0]]), motion_noise=torch.randn(1, 25, 16))
    with pytest.raises(ValueError, match="is for 2 videos"):
        G(torch.randn(1, 16), torch.tensor([[0.0]]), motion_noise=MotionNoise(torch.tensor([1, 2]), 16))
    with pytest.raises(Exception, match="Did you mean 'acyclic'"):
        tiny_g(positional_encoding="acyclik")


def test_explicit_noise_tensor_matches_official_layout(G):
    noise = torch.randn(1, 60, 16)
    t = torch.tensor([[0.0, 17.5, 300.0]])
    with torch.no_grad():
        full = G(torch.zeros(1, 16), t, motion_noise=noise)
        shifted = G(torch.zeros(1, 16), t[:, 1:], motion_noise=noise)
    torch.testing.assert_close(full[:, 1:], shifted, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------------------ encodings


def _knots_for(enc, t, seed=0):
    """(codes [N, 2, 16], code_times [N, 2]): the two codes around each t (a code every 16 frames), as G gives them."""
    torch.manual_seed(seed)
    codes = torch.randn(200, 16, dtype=torch.float64)
    k = torch.floor(t / 16).long()
    return torch.stack([codes[k], codes[k + 1]], dim=1), torch.stack([k * 16.0, (k + 1) * 16.0], dim=1).double()


def test_acyclic_encoding_is_continuous_at_knots_and_equals_anchor():
    torch.manual_seed(0)
    enc = POSITIONAL_ENCODINGS.build("acyclic", motion_dim=16)
    eps = 1e-3
    t = torch.tensor([32.0 - eps, 32.0, 48.0 - eps, 48.0, 1600.0 - eps, 1600.0])
    with torch.no_grad():
        v = enc(t, *_knots_for(enc, t))
    assert v.shape == (6, 512)
    for i in (0, 2, 4):
        assert (v[i] - v[i + 1]).abs().max() < 0.05, f"jump at the knot t={t[i + 1].item()}"
    codes, _ = _knots_for(enc, t)
    torch.testing.assert_close(v[1::2], enc.aligner(codes[1::2, 0].float()), atol=1e-5, rtol=1e-5)  # v(t_l) = W_a u_l
    # not a trivial constant between the knots
    mid = torch.tensor([40.0])
    assert (enc(mid, *_knots_for(enc, mid)) - torch.lerp(v[1], v[3], 0.5)).abs().max() > 1e-2


def test_acyclic_encoding_has_no_exact_period(G):
    noise = MotionNoise(torch.tensor([4]), dim=16)
    t = torch.tensor([[5.0, 123.25]])
    with torch.no_grad():
        v = G.time_embedding(t, noise)
        for period in (16.0, 64.0, 1024.0):
            shifted = G.time_embedding(t + period, noise)
            assert (shifted - v).abs().max() > 1e-2, f"v(t + {period}) == v(t)"


def test_sinusoidal_is_cyclic_and_lerp_is_piecewise_linear():
    sin = POSITIONAL_ENCODINGS.build("sinusoidal")
    assert not sin.needs_motion and sin.out_dim == 512
    t = torch.tensor([3.0, 3.0 + 1024.0])
    v = sin(t)
    torch.testing.assert_close(v[0, [255, 511]], v[1, [255, 511]], atol=1e-4, rtol=1e-4)  # period-16 dims repeat
    lerp = POSITIONAL_ENCODINGS.build("lerp", motion_dim=16)
    t = torch.tensor([16.0, 20.0, 24.0])
    knots = _knots_for(lerp, t)
    with torch.no_grad():
        v = lerp(t, *knots)
    torch.testing.assert_close(v[1], (v[0] + v[2]) / 2, atol=1e-5, rtol=1e-5)


class CodeRamp(PositionalEncoding):
    """A plugin-style encoding written against the contract alone: the left code, faded into the right one."""

    needs_motion = True

    def __init__(self, motion_dim: int = 512):
        super().__init__()
        self.out_dim = motion_dim
        self.seen: list[tuple] = []

    def forward(self, t, codes=None, code_times=None):
        self.seen.append((tuple(t.shape), tuple(codes.shape), tuple(code_times.shape), codes.dtype, code_times.dtype))
        alpha = self.interpolation_weight(t, code_times)[:, None]
        return torch.lerp(codes[:, 0], codes[:, 1], alpha).float()


def test_an_encoding_needs_only_the_contract_and_gets_plain_tensors(register):
    register(POSITIONAL_ENCODINGS, CodeRamp, "test_code_ramp")
    g = tiny_g(positional_encoding="test_code_ramp", time_injection="concat_w")
    assert g.time_encoder.out_dim == 16 and g.motion is not None  # motion_dim was offered to the constructor
    t = torch.tensor([[0.0, 8.0, 16.0], [3.0, 40.0, 41.5]])
    with torch.no_grad():
        v = g.time_embedding(t, MotionNoise(torch.tensor([1, 2]), dim=16))
        video = g(torch.randn(2, 16), t)
    assert g.time_encoder.seen[0] == ((6,), (6, 2, 16), (6, 2), torch.float64, torch.float64)
    assert v.shape == (6, 16) and video.shape == (2, 3, 3, 32, 32)
    torch.testing.assert_close(v[0] + v[2], 2 * v[1])  # t = 8 lies halfway between the codes at 0 and 16

    class NoForward(PositionalEncoding):
        out_dim = 4

    register(POSITIONAL_ENCODINGS, NoForward, "test_no_forward")
    with pytest.raises(TypeError, match="positional_encoding does not meet its contract.*does not implement 'forward'"):
        tiny_g(positional_encoding="test_no_forward")


@pytest.mark.parametrize("name", ["acyclic", "sinusoidal", "lerp", "none"])
def test_every_registered_encoding_runs_in_the_generator(name):
    assert name in POSITIONAL_ENCODINGS.list()
    g = tiny_g(positional_encoding=name)
    assert (g.motion is not None) == g.time_encoder.needs_motion
    video = g(torch.randn(2, 16), torch.tensor([[0.0, 2.5, 40.0], [1.0, 2.0, 3.0]]))
    assert video.shape == (2, 3, 3, 32, 32) and torch.isfinite(video).all()


# ------------------------------------------------------------------------------------------ discriminator


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("stylegan_v", {}),
        ("stylegan_v", {"conditioning": "none"}),
        ("stylegan_v_hyper", {}),
        ("stylegan_v", {"num_frames": 1}),
        ("stylegan_v", {"num_frames": 4}),
    ],
)
def test_discriminator_variants_and_r1_gradients(name, kwargs):
    d = tiny_d(name, **kwargs)
    k = d.num_frames
    assert isinstance(d, VideoDiscriminator) and d.sampler == "sparse_random"
    frames = torch.randn(4, k, 3, 32, 32, requires_grad=True)
    t = torch.cumsum(torch.randint(1, 9, (4, k)).float(), dim=1)
    logits = d(frames, t)
    assert logits.shape == (4,) and logits.dtype == torch.float32
    (grad,) = torch.autograd.grad(logits.sum(), frames, create_graph=True)
    assert grad.abs().sum() > 0
    grad.square().sum().backward()
    assert all(p.grad is not None for p in d.parameters() if p.requires_grad and p.ndim == 4)


def test_discriminator_uses_time_gaps_only_when_conditioned():
    frames, t = torch.randn(2, 3, 3, 32, 32), torch.tensor([[0.0, 1.0, 2.0], [0.0, 5.0, 9.0]])
    for name, kwargs, sensitive in [
        ("stylegan_v", {}, True),
        ("stylegan_v_hyper", {}, True),
        ("stylegan_v", {"conditioning": "none"}, False),
    ]:
        d = tiny_d(name, **kwargs)
        with torch.no_grad():
            changed = (d(frames, t) - d(frames, t * 2)).abs().max() > 1e-6
        assert changed == sensitive, (name, kwargs)


def test_discriminator_fusion_resolution_and_errors():
    assert tiny_d().fusion_resolution == 16 and len(tiny_d().frame_blocks) == 1
    d16 = tiny_d(resolution=16)
    assert d16.fusion_resolution == 8
    assert d16(torch.randn(2, 3, 3, 16, 16), torch.tensor([[0.0, 1, 3]] * 2)).shape == (2,)
    d = tiny_d()
    with pytest.raises(ValueError, match="frames: expected a tensor of shape"):
        d(torch.randn(2, 2, 3, 32, 32), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="conditioning"):
        tiny_d(conditioning="concat")


# ------------------------------------------------------------------------------------------ precision, configs


def test_bf16_autocast_on_cpu():
    g, d = tiny_g(), tiny_d()
    z, t = torch.randn(2, 16), torch.tensor([[0.0, 7.5, 1e5], [3.0, 4.0, 5.0]])
    noise = g.sample_motion_noise(2, 1e5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        video = g(z, t, motion_noise=noise)
        logits = d(video, t)
    assert video.dtype == torch.float32 and torch.isfinite(video).all()
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()
    with torch.no_grad():
        ref = g(z, t, motion_noise=noise)
    assert (video - ref).abs().mean() < 0.1 * ref.abs().mean() + 1e-3  # bf16 close to fp32, not garbage
    logits.sum().backward()


@pytest.mark.parametrize(
    "kind,option",
    [
        ("generator", "stylegan_v"),
        ("generator", "stylegan_v_small"),
        ("discriminator", "stylegan_v"),
        ("discriminator", "stylegan_v_hyper"),
        ("discriminator", "stylegan_v_small"),
    ],
)
def test_config_options_build(kind, option):
    from benchmarks.config.hydra_setup import load_option

    spec = load_option(kind, option)  # *_small options inherit their full-size file
    registry = GENERATORS if kind == "generator" else DISCRIMINATORS
    runtime = {"resolution": 32} if kind == "generator" else {"resolution": 32, "num_frames": 3}
    with torch.device("meta"):
        model = registry.build(spec, **runtime)
    assert model.resolution == 32
