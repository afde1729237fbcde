"""The optimised paths compute what the plain ones do: fused bias_act, channels_last, compile, bf16 sampling."""

import pytest
import torch

from benchmarks.speed.grad_check import _models, relative_errors, step_gradients
from stylegan_v.ops import bias_act, fused_ops_enabled, reference_ops

TINY = {"channel_base": 256, "channel_max": 16}


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(activation="lrelu", clamp=256.0, gain=0.7),
        dict(activation="lrelu"),
        dict(activation="linear", clamp=100.0),
    ],
)
def test_fused_bias_act_equals_reference_to_second_order(kwargs):
    torch.manual_seed(0)
    x = (torch.randn(2, 3, 4, 4, dtype=torch.float64) * 200).requires_grad_(True)  # some values beyond the clamp
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    fused = bias_act(x, b, **kwargs)
    assert fused.grad_fn is not None and "FusedBiasAct" in type(fused.grad_fn).__name__
    with reference_ops():
        reference = bias_act(x, b, **kwargs)
    assert "FusedBiasAct" not in type(reference.grad_fn).__name__
    torch.testing.assert_close(fused, reference, rtol=0, atol=0)
    with torch.no_grad():  # the in-place sampling path
        torch.testing.assert_close(bias_act(x, b, **kwargs), reference.detach(), rtol=0, atol=0)
    assert torch.autograd.gradcheck(lambda x, b: bias_act(x, b, **kwargs), (x, b))
    assert torch.autograd.gradgradcheck(lambda x, b: bias_act(x, b, **kwargs), (x, b))  # R1 needs double backward
    assert fused_ops_enabled()


def test_fused_bias_act_backward_in_bf16_matches_reference():
    """The autocast dtype on CUDA: the aten activation backwards run in bf16 and agree with the plain chain."""
    torch.manual_seed(0)
    x = (torch.randn(4, 8, 5, 5) * 300).to(torch.bfloat16)
    b, dy = torch.randn(8).to(torch.bfloat16), torch.randn(4, 8, 5, 5).to(torch.bfloat16)
    grads = []
    for reference in (False, True):
        xr, br = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        with reference_ops(reference):
            bias_act(xr, br, activation="lrelu", clamp=256.0, gain=0.7).backward(dy)
        grads.append((xr.grad, br.grad))
    assert grads[0][0].dtype == torch.bfloat16
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1.6e-2, atol=0)  # one bf16 rounding apart at most
    torch.testing.assert_close(grads[0][1].float(), grads[1][1].float(), rtol=3e-2, atol=0.05)


def test_reference_ops_switch_restores_on_error():
    with pytest.raises(RuntimeError), reference_ops():
        assert not fused_ops_enabled()
        raise RuntimeError("boom")
    assert fused_ops_enabled()


def test_optimised_step_gradients_equal_eager():
    """G loss, D loss and R1 (double backward): fused ops + channels_last vs the plain eager step, fp32."""
    G, D = _models(16, TINY)
    common = dict(device=torch.device("cpu"), resolution=16, precision="fp32", batch=4)
    eager = step_gradients(G, D, optimized=False, backend=None, **common)
    fast = step_gradients(G, D, optimized=True, backend=None, **common)
    errs = relative_errors(fast, eager)
    assert {k.split("/")[0] for k in errs} == {"G", "D", "R1"}
    assert max(errs.values()) < 1e-4, max(errs, key=errs.get)
    # the check can fail: a different model gives different gradients
    G2, _ = _models(16, {"channel_base": 256, "channel_max": 8})
    other = step_gradients(G2, D, optimized=False, backend=None, **common)
    assert (
        max(
            relative_errors(
                {k: v for k, v in other.items() if k.startswith("D/")},
                {k: v for k, v in eager.items() if k.startswith("D/")},
            ).values()
        )
        > 1e-3
    )


def test_compiled_discriminator_gradients_equal_eager():
    """torch.compile (dynamo + AOTAutograd; the 'aot_eager' backend skips only code generation, which a
    CPU test cannot afford) of the D forward: G and D losses through the compiled D, R1 eager, fp32."""
    G, D = _models(16, TINY)
    common = dict(device=torch.device("cpu"), resolution=16, precision="fp32", batch=4)
    eager = step_gradients(G, D, optimized=False, backend=None, **common)
    compiled = step_gradients(G, D, optimized=True, backend="aot_eager", compiled="D", **common)
    errs = relative_errors(compiled, eager)
    assert max(errs.values()) < 1e-4, max(errs, key=errs.get)


def test_sampling_keeps_official_quantisation_and_cpu_batch():
    from metrics.generation import fit_batch_to_memory, sampling_autocast
    from metrics.sources import generated_clips, quantize

    G, _ = _models(16, TINY)
    G.eval()
    assert fit_batch_to_memory(G, requested=3, frames=4, device=torch.device("cpu")) == 3
    with pytest.raises(ValueError, match="precision"):
        sampling_autocast(torch.device("cpu"), "fp16")
    clips = next(
        generated_clips(
            G,
            num_videos=2,
            times=[0, 1, 2, 3],
            batch_size=2,
            generator=torch.Generator().manual_seed(5),
            device=torch.device("cpu"),
        )
    )
    assert clips.dtype == torch.uint8 and clips.shape == (2, 3, 4, 16, 16)  # [B, C, T, H, W]
    gen = torch.Generator().manual_seed(5)
    z = G.sample_z(2, generator=gen)
    with torch.no_grad():
        frames = torch.cat(
            list(G.iter_frames(z, torch.arange(4.0).expand(2, -1).contiguous(), chunk_size=16, generator=gen)), dim=1
        )
    expected = (frames * 127.5 + 128).clamp(0, 255).to(torch.uint8)  # the official formula, written out
    torch.testing.assert_close(clips, expected.permute(0, 2, 1, 3, 4), rtol=0, atol=0)
    torch.testing.assert_close(
        quantize(torch.tensor([-1.0, 0.0, 0.999, 1.0])), torch.tensor([0, 128, 255, 255], dtype=torch.uint8)
    )


def test_speed_section_replaces_only_its_block(tmp_path):
    from benchmarks.speed.run_all import BEGIN, END, Table, write_section

    path = tmp_path / "RESULTS.md"
    path.write_text("# Measured figures\n\n## Other\nkept\n")
    table = Table()
    table.add("training", "step", "1.00 s/kimg", "0.50x baseline", "bench_train")
    write_section(table.markdown({"cpu": "x"}, ["--quick"]), path)
    first = path.read_text()
    assert (
        "## Other\nkept" in first
        and first.count(BEGIN) == 1
        and "| training | step | 1.00 s/kimg | 0.50x baseline |" in first
    )
    table.rows[0] = ("training", "step", "2.00 s/kimg", "0.40x baseline", "bench_train")
    write_section(table.markdown({"cpu": "x"}, ["--quick"]), path)
    second = path.read_text()
    assert second.count(BEGIN) == second.count(END) == 1 and "2.00 s/kimg" in second and "1.00 s/kimg" not in second
    assert "## Other\nkept" in second


def test_a_generator_whose_draws_follow_the_batch_keeps_its_batch_size():
    """The official noise draws z and motion per batch: refitting the batch to GPU memory would change the
    videos, so such a generator is never probed (no CUDA call happens here, even for a CUDA device)."""
    from metrics.generation import fit_batch_to_memory
    from stylegan_v.official_noise import OfficialNoiseGenerator

    assert OfficialNoiseGenerator.batch_defines_draws
    G, _ = _models(16, TINY)
    official = OfficialNoiseGenerator(G, seed=0)
    assert fit_batch_to_memory(official, requested=5, frames=4, device=torch.device("cuda")) == 5


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_speed_benchmarks_small_option_has_small_widths(kind):
    """``--small`` used to fall back to the full-size file silently (the small files inherit their ``_name_``)."""
    from benchmarks.speed.bench_train import option_spec

    assert option_spec(kind, "stylegan_v", True)["channel_max"] == 64
    assert option_spec(kind, "stylegan_v", False)["channel_max"] == 512
    assert option_spec(kind, "no_such_model", True) == {"_name_": "no_such_model"}
