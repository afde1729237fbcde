"""Baseline models (DIGAN-style, MoCoGAN-HD-style, MoCoGAN) and their discriminators, at 32x32 with tiny widths."""

from __future__ import annotations

import pytest
import torch

from registry import DISCRIMINATORS, GENERATORS, LOSSES

RES = 32
TINY_G = {
    "digan": {
        "z_dim": 16,
        "w_dim": 16,
        "motion_dim": 16,
        "channel_base": 256,
        "channel_max": 16,
        "fourier_dim": 8,
        "fmm_rank": 2,
    },
    "mocogan": {"content_dim": 8, "motion_dim": 4, "ngf": 4},
    "mocogan_hd": {
        "z_dim": 16,
        "w_dim": 16,
        "mapping_layers": 2,
        "channel_base": 256,
        "channel_max": 16,
        "hidden_dim": 12,
        "n_pca": 6,
        "pca_num_samples": 500,
    },
}
TINY_D = {
    "image": {"channel_base": 256, "channel_max": 16},
    "digan_motion": {"channel_base": 256, "channel_max": 16},
    "video3d": {"ndf": 4, "num_frames": 8},
    "mocogan_hd_image": {"ndf": 4, "num_frames": 8},
    "mocogan_hd_video": {"ndf": 4, "num_frames": 8},
}


def build_g(name: str, **kwargs):
    torch.manual_seed(0)
    return GENERATORS.build({"_name_": name, **TINY_G[name], **kwargs}, resolution=RES)


def motion_stage(G):
    for stage in G.training_stages[1:]:
        G.begin_stage(stage)
    return G


@pytest.mark.parametrize("name", sorted(TINY_G))
def test_generator_shapes_and_declarations(name):
    G = build_g(name)
    assert G.resolution == RES
    z = G.sample_z(2)
    t = torch.tensor([[0.0, 1.0, 5.0], [2.0, 3.0, 4.0]])
    x = G(z, t)
    assert x.shape == (2, 3, 3, RES, RES) and torch.isfinite(x).all()
    assert G.continuous_time == (name == "digan")
    assert G.autoregressive == (name != "digan")


@pytest.mark.parametrize("name", sorted(TINY_D))
def test_discriminator_shapes_and_gradients(name):
    torch.manual_seed(0)
    D = DISCRIMINATORS.build({"_name_": name, **TINY_D[name]}, resolution=RES)
    k = D.num_frames
    frames = torch.randn(4, k, 3, RES, RES, requires_grad=True)
    t = torch.arange(k, dtype=torch.float32).expand(4, k) + 3
    logits = D(frames, t)
    assert logits.shape == (4,)
    (grad,) = torch.autograd.grad(logits.sum(), frames, create_graph=True)  # R1 / GP need double backward
    assert grad.abs().sum() > 0
    with pytest.raises(ValueError, match=name.split("_")[0]):
        D(frames[:, :1].expand(4, k + 1, 3, RES, RES), torch.zeros(4, k + 1))


def test_digan_frames_are_continuous_in_time_and_independent():
    G = build_g("digan").eval()
    z, zm = G.sample_z(2), G.sample_motion_noise(2, 10)
    t0 = torch.tensor([[3.3], [7.25]])
    with torch.no_grad():
        base = G(z, t0, motion_noise=zm)
        diffs = [(G(z, t0 + eps, motion_noise=zm) - base).abs().max().item() for eps in (1e-1, 1e-2, 1e-3)]
        far = (G(z, t0 + 8, motion_noise=zm) - base).abs().max().item()
        # Frames are independent given (z, motion): rendering t0 among other times gives the same frame.
        joint = G(z, torch.cat([t0 - 1, t0, t0 + 0.5], dim=1), motion_noise=zm)
    assert diffs[0] > diffs[1] > diffs[2] and diffs[2] < 1e-2 * max(far, 1e-6) + 1e-4
    assert far > 10 * diffs[2]
    torch.testing.assert_close(joint[:, 1:2], base, atol=1e-5, rtol=1e-5)


def test_digan_motion_discriminator_sees_time_gap():
    torch.manual_seed(0)
    D = DISCRIMINATORS.build({"_name_": "digan_motion", **TINY_D["digan_motion"]}, resolution=RES)
    frames = torch.randn(4, 2, 3, RES, RES)
    a = D(frames, torch.tensor([[0.0, 1.0]] * 4))
    b = D(frames, torch.tensor([[0.0, 15.0]] * 4))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="num_frames must be 2"):
        DISCRIMINATORS.build({"_name_": "digan_motion", **TINY_D["digan_motion"]}, resolution=RES, num_frames=3)


def test_mocogan_hd_stages_freeze_image_generator_and_residuals_stay_in_pca_subspace():
    G = build_g("mocogan_hd")
    assert G.training_stages == ("image", "pca", "motion")
    image_params = {id(p) for p in [*G.mapping.parameters(), *G.synthesis.parameters()]}
    assert {id(p) for p in G.stage_parameters("image")} == image_params
    z, t = G.sample_z(3), torch.arange(6.0).expand(3, 6)
    static = G(z, t)  # before PCA: every frame is the image generator's w_0
    torch.testing.assert_close(static[:, 1:], static[:, :1].expand_as(static[:, 1:]))
    motion_stage(G)
    assert G.stage == "motion" and all(
        not p.requires_grad for p in [*G.mapping.parameters(), *G.synthesis.parameters()]
    )
    motion_ids = {id(p) for p in G.stage_parameters("motion")}
    assert motion_ids == {id(p) for p in G.motion.parameters()} and not motion_ids & image_params
    # PCA: orthonormal directions, decreasing std.
    U = G.pca_components
    torch.testing.assert_close(U @ U.t(), torch.eye(G.n_pca), atol=1e-4, rtol=0)
    assert (G.pca_std[:-1] >= G.pca_std[1:]).all() and (G.pca_std > 0).all()
    # Residuals w_t - w_0 lie in span(U): their component orthogonal to U vanishes.
    G.train()
    noise = G.sample_motion_noise(3, 5)
    w0, state = G.init_motion(z, 1.0, noise.steps(0, 1)[:, 0])
    ws = [w0]
    eps = noise.steps(1, 6)
    for i in range(5):
        state = G.motion_step(w0, state, eps[:, i])
        ws.append(G.frame_code(w0, state))
    residual = torch.stack(ws[1:], 1) - w0[:, None]
    outside = residual - (residual @ U.t()) @ U
    assert residual.abs().max() > 1e-4 and outside.abs().max() < 1e-4 * residual.abs().max() + 1e-6
    # Bounded: each step moves at most residual_scale * sum of sigma along the basis.
    step = (torch.stack(ws[1:], 1) - torch.stack(ws[:-1], 1)) @ U.t()  # PCA coordinates of each step
    assert (step.abs() <= G.residual_scale * G.pca_std + 1e-5).all()
    x = G(z, t)
    assert (x[:, 1:] - x[:, :1]).abs().max() > 0  # frames move now
    assert set(G.auxiliary_losses()) == {"mutual_info"} and G.auxiliary_losses()["mutual_info"].requires_grad


@pytest.mark.parametrize("name", ["mocogan", "mocogan_hd"])
def test_recurrent_generators_unroll_in_chunks_like_one_shot(name):
    G = build_g(name).eval()
    if name == "mocogan_hd":
        motion_stage(G)
    z = G.sample_z(2)
    t = torch.tensor([[0.0, 2, 3, 7, 8, 11, 19], [1.0, 2, 4, 5, 9, 12, 13]])
    noise = G.sample_motion_noise(2, 19, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = G(z, t, motion_noise=noise)
        chunks = torch.cat(list(G.iter_frames(z, t, chunk_size=2, motion_noise=noise)), dim=1)
        # A later frame does not depend on how many frames were asked for (prefix-consistent motion).
        prefix = G(z, t[:, :3], motion_noise=noise)
    torch.testing.assert_close(chunks, whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(prefix, whole[:, :3], atol=1e-5, rtol=1e-5)
    assert (whole[:, -1] - whole[:, 0]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="integer times only"):
        G(z, t + 0.5)


def test_recurrent_long_video_keeps_memory_bounded():
    G = build_g("mocogan").eval()
    z, t = G.sample_z(1), torch.arange(120.0)[None]
    sizes = []
    gen = G._unroll(z, t, chunk_size=16, motion_noise=None, truncation_psi=1.0, generator=None)
    with torch.no_grad():
        for chunk in gen:
            sizes.append(chunk.shape[1])
            frame = gen.gi_frame
            if frame is not None:
                assert len(frame.f_locals["history"]) <= 17  # only the codes of the chunk in flight
    assert sum(sizes) == 120


def test_ralsgan_loss_is_relativistic_and_has_a_gradient_penalty():
    loss = LOSSES.build({"_name_": "ralsgan", "gp_weight": 10.0})
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.0])
    lr, lf = loss.discriminator(real, fake)
    torch.testing.assert_close(lr, 0.5 * (real - fake.mean() - 1) ** 2)
    torch.testing.assert_close(lf, 0.5 * (fake - real.mean()) ** 2)
    assert loss.discriminator(real + 5, fake + 5)[0].allclose(lr)  # only differences matter
    g = loss.generator(fake, real_logits=real)
    torch.testing.assert_close(g, 0.5 * ((fake - real.mean() - 1) ** 2 + (real - fake.mean()) ** 2))
    with pytest.raises(ValueError, match="real logits"):
        loss.generator(fake)
    torch.manual_seed(0)
    D = DISCRIMINATORS.build({"_name_": "mocogan_hd_video", **TINY_D["mocogan_hd_video"]}, resolution=RES)
    real_clip, fake_clip = torch.randn(2, 8, 3, RES, RES), torch.randn(2, 8, 3, RES, RES)
    penalty = loss.penalty(D, real_clip, fake_clip, torch.arange(8.0).expand(2, 8))
    assert penalty.shape == (2,) and (penalty >= 0).all() and penalty.requires_grad


def test_mocogan_hd_starts_from_a_pretrained_image_generator(tmp_path):
    source = build_g("mocogan_hd")
    with torch.no_grad():
        for p in source.synthesis.parameters():
            p.add_(0.5)
    path = tmp_path / "image.pt"
    torch.save({"G_ema": source.state_dict()}, path)
    G = build_g("mocogan_hd", pretrained_image_generator=str(path))
    G.begin_stage("pca")
    for (name, a), b in zip(G.synthesis.state_dict().items(), source.synthesis.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    bad = tmp_path / "other.pt"
    torch.save({"G_ema": {"something.else": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="no image generator weights"):
        build_g("mocogan_hd", pretrained_image_generator=str(bad)).begin_stage("pca")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_g("mocogan_hd", pretrained_image_generator=str(tmp_path / "missing.pt")).begin_stage("pca")


OWN_CONFIGS = [
    *(f"generator/{n}{s}.yaml" for n in ("digan", "mocogan_hd", "mocogan") for s in ("", "_small")),
    *(
        f"discriminator/{n}{s}.yaml"
        for n in (
            "image",
            "digan_motion",
            "video3d",
            "mocogan_hd_image",
            "mocogan_hd_video",
            "digan",
            "mocogan_hd",
            "mocogan",
        )
        for s in ("", "_small")
    ),
]


@pytest.mark.parametrize("option", OWN_CONFIGS)
def test_config_options_build(option):
    """Every option file builds (official sizes on the meta device: no memory, no time)."""
    from benchmarks.config.hydra_setup import load_option
    from benchmarks.training.components import build_discriminators

    spec = load_option(*option.removesuffix(".yaml").split("/"))  # *_small options inherit their full-size file
    with torch.device("meta"):
        if option.startswith("generator/"):
            built = [GENERATORS.build(spec, resolution=128)]
        else:
            built = [
                s.D
                for s in build_discriminators(
                    spec, resolution=128, default_sampler=None, default_loss="non_saturating", r1_gamma=0.1
                )
            ]
    assert built and all(sum(p.numel() for p in m.parameters()) > 0 for m in built)
