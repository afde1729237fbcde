"""StyleGAN2 building blocks: resampling, bias_act, equalized LR, mapping, modulated conv, D blocks."""

import math

import pytest
import torch
import torch.nn.functional as F

from stylegan_v.layers import (
    DiscriminatorBlock,
    DiscriminatorEpilogue,
    FullyConnectedLayer,
    MappingNetwork,
    MinibatchStdLayer,
    SynthesisLayer,
    SynthesisNetwork,
    _conv2d_resample,
    modulated_conv2d,
)
from stylegan_v.ops import bias_act, downsample2d, make_filter, upsample2d


def test_fir_resampling_shapes_and_dc_gain():
    f = make_filter()
    x = torch.ones(1, 2, 8, 8)
    up, down = upsample2d(x, f), downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    # a constant stays constant away from the zero-padded border (filter gain 4 for up, 1 for down)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones_like(up[..., 2:-2, 2:-2]))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))
    # an impulse at input pixel 1 (output pixels 2, 3) spreads as [1, 3, 3, 1] centred on them
    imp = torch.zeros(1, 1, 4, 4)
    imp[0, 0, 1, 1] = 1
    row = upsample2d(imp, f)[0, 0, 2]
    torch.testing.assert_close(row[:6] / row.max(), torch.tensor([0, 1 / 3, 1.0, 1.0, 1 / 3, 0]))


def test_transposed_up_conv_equals_upsample_then_conv():
    torch.manual_seed(0)
    f = make_filter()
    x, w = torch.randn(2, 5, 8, 8), torch.randn(7, 5, 3, 3)
    fused = _conv2d_resample(x, w, f, up=True)
    reference = F.conv2d(upsample2d(x, f), w.flip([2, 3]), padding=1)
    assert fused.shape == reference.shape == (2, 7, 16, 16)
    torch.testing.assert_close(fused[..., 2:-2, 2:-2], reference[..., 2:-2, 2:-2], atol=1e-4, rtol=1e-4)
    assert _conv2d_resample(x, w, f, down=True).shape == (2, 7, 4, 4)


def test_bias_act_gain_and_clamp():
    x = torch.tensor([[-1.0, 2.0]])
    out = bias_act(x, torch.tensor([0.0, 1.0]), activation="lrelu")
    torch.testing.assert_close(out, torch.tensor([[-0.2, 3.0]]) * math.sqrt(2))
    assert bias_act(x * 1000, activation="lrelu", clamp=256).abs().max() == 256
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, activation="gelu")


def test_equalized_lr_scales_gradients_by_lr_mult():
    torch.manual_seed(0)
    slow, fast = FullyConnectedLayer(8, 4, lr_mult=0.01), FullyConnectedLayer(8, 4, lr_mult=1.0)
    with torch.no_grad():  # same effective weights
        fast.weight.copy_(slow.weight * 0.01)
    x = torch.randn(3, 8)
    torch.testing.assert_close(slow(x), fast(x))
    slow(x).sum().backward()
    fast(x).sum().backward()
    torch.testing.assert_close(slow.weight.grad, fast.weight.grad * 0.01)
    # unit-variance input -> roughly unit-variance pre-activation (the point of the runtime gain)
    big = FullyConnectedLayer(512, 512)
    assert 0.8 < big(torch.randn(256, 512)).std().item() < 1.2


def test_mapping_network_tracks_w_avg_and_truncates():
    torch.manual_seed(0)
    m = MappingNetwork(z_dim=16, w_dim=16, num_layers=2, w_avg_beta=0.5)
    z = torch.randn(8, 16)
    m.eval()
    m(z)
    assert torch.all(m.w_avg == 0), "w_avg must not move in eval mode"
    m.train()
    w = m(z)
    torch.testing.assert_close(m.w_avg, w.detach().mean(0) * 0.5)
    torch.testing.assert_close(m(z, truncation_psi=0.0, update_w_avg=False), m.w_avg.expand(8, -1))
    cond = MappingNetwork(z_dim=0, c_dim=10, w_dim=16, w_avg_beta=None)
    assert cond(c=torch.randn(3, 10)).shape == (3, 16)
    with pytest.raises(ValueError, match=r"shape \[\*, 16\]"):
        m(torch.randn(2, 5))


def test_modulated_conv_matches_per_sample_weights():
    torch.manual_seed(0)
    x, w, s = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(3, 4)
    out = modulated_conv2d(x, w, s, demodulate=True)
    for n in range(3):
        wn = w * s[n][None, :, None, None]
        wn = wn / wn.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
        torch.testing.assert_close(out[n : n + 1], F.conv2d(x[n : n + 1], wn, padding=1), atol=1e-5, rtol=1e-5)


def test_synthesis_layer_up_and_network_num_ws():
    layer = SynthesisLayer(8, 4, w_dim=6, resolution=16, up=True, use_noise=True, conv_clamp=256)
    assert layer(torch.randn(2, 8, 8, 8), torch.randn(2, 6)).shape == (2, 4, 16, 16)
    with pytest.raises(ValueError, match="SynthesisLayer"):
        layer(torch.randn(2, 8, 16, 16), torch.randn(2, 6))
    with torch.device("meta"):
        assert SynthesisNetwork(resolution=256).num_ws == 14  # as StyleGAN2/StyleGAN-V at 256²
    net = SynthesisNetwork(w_dim=8, resolution=16, channel_base=64, channel_max=8, input_extra_channels=3)
    assert net(torch.randn(2, 8), input_features=torch.randn(2, 3)).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="power of two"):
        SynthesisNetwork(resolution=48)


def test_synthesis_noise_input_modes_and_off_by_default():
    """Off: no extra parameter or buffer (StyleGAN-V and existing checkpoints unchanged). On: strength
    starts at 0; 'const' uses the noise_const buffer (same output every call), 'random' draws per call,
    'none' leaves it out."""
    torch.manual_seed(0)
    kwargs = dict(w_dim=8, resolution=16, channel_base=64, channel_max=8)
    plain, noisy = SynthesisNetwork(**kwargs), SynthesisNetwork(use_noise=True, **kwargs)
    extra = set(noisy.state_dict()) - set(plain.state_dict())
    assert extra and all(k.endswith(("noise_strength", "noise_const")) for k in extra)
    assert not any("noise" in k for k in plain.state_dict())
    layer = noisy.blocks[2].conv1
    assert layer.noise_const.shape == (16, 16) and float(layer.noise_strength.detach()) == 0.0
    noisy.load_state_dict({k: v for k, v in plain.state_dict().items()}, strict=False)
    ws = torch.randn(2, 8)
    with torch.no_grad():
        assert torch.equal(noisy(ws, noise_mode="random"), plain(ws))  # strength 0: no effect
        for m in noisy.modules():
            if getattr(m, "use_noise", False):
                m.noise_strength.fill_(0.5)
        const = noisy(ws, noise_mode="const")
        assert torch.equal(const, noisy(ws, noise_mode="const")) and not torch.allclose(const, plain(ws))
        assert not torch.allclose(noisy(ws, noise_mode="random"), noisy(ws, noise_mode="random"))
        assert torch.equal(noisy(ws, noise_mode="none"), plain(ws))
        x = torch.randn(1, layer.in_channels, 16, 16)
        out = layer(x, ws[:1], noise_mode="const")
        expected = layer(x, ws[:1], noise_mode="none")  # lrelu(y + b) * sqrt(2): undo it to compare pre-activation

        def pre(o):
            return torch.where(o >= 0, o, o / 0.2) / math.sqrt(2)

        torch.testing.assert_close(
            pre(out) - pre(expected), (0.5 * layer.noise_const).expand_as(out), atol=1e-4, rtol=1e-4
        )
    with pytest.raises(ValueError, match="noise_mode"):
        noisy(ws, noise_mode="fixed")


def test_minibatch_std_groups():
    torch.manual_seed(0)
    x = torch.randn(8, 4, 2, 2)
    y = MinibatchStdLayer(group_size=4)(x)
    assert y.shape == (8, 5, 2, 2)
    # sample 0 is grouped with samples 2, 4, 6 ((g m) layout, m = 2 groups)
    group = x[0::2]
    expected = group.std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(y[0, 4, 0, 0], expected, atol=1e-5, rtol=1e-5)
    assert MinibatchStdLayer(group_size=4)(torch.randn(6, 4, 2, 2)).shape == (6, 5, 2, 2)  # group of 3


def test_discriminator_blocks_and_double_backward():
    torch.manual_seed(0)
    first = DiscriminatorBlock(0, 8, 16, resolution=16)
    fused = DiscriminatorBlock(24, 16, 16, resolution=8)
    head = DiscriminatorEpilogue(16, cmap_dim=8)
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    h = first(img)
    assert h.shape == (4, 16, 8, 8)
    h = fused(torch.cat([h, h[:, :8]], dim=1))
    assert h.shape == (4, 16, 4, 4)
    logits = head(h, torch.randn(4, 8))
    assert logits.shape == (4,)
    (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
    grad.square().sum().backward()  # R1 needs second-order gradients through the FIR kernels
    assert first.fromrgb.weight.grad is not None and first.fromrgb.weight.grad.abs().sum() > 0
