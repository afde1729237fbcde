"""Do the optimised training paths give the eager gradients? (``python -m benchmarks.speed.grad_check``)

Compares, parameter by parameter, the gradients of a StyleGAN-V generator and discriminator under
the plain setting (eager, NCHW, reference ops) with those of the optimised setting (fused ops,
channels_last, optionally ``torch.compile`` and bf16 autocast), for the three losses of a step:
the G loss through D, the D loss on real and fake clips, and R1 (double backward, always eager as
in the loop, but through the fused ops). The error of a tensor is ``||a - b|| / ||b||``.

    python -m benchmarks.speed.grad_check --device cuda --precision bf16 --backend inductor   # GPU check
    python -m benchmarks.speed.grad_check --backend aot_eager                                 # CPU (the test)

With ``--precision bf16`` both sides run under bf16 autocast, so the check isolates what compile,
fusion and channels_last change; the fp32-vs-bf16 gap is a separate, larger number (also printed).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys

import torch

from benchmarks.training.losses import NonSaturatingLoss, r1_penalty

LOSS = NonSaturatingLoss()  # the training loss itself, so the check follows it


def _models(resolution: int, width: dict):
    from registry import DISCRIMINATORS, GENERATORS

    torch.manual_seed(0)
    G = GENERATORS.build(
        {"_name_": "stylegan_v", "z_dim": 32, "w_dim": 32, "motion_z_dim": 32, "motion_dim": 32, **width},
        resolution=resolution,
    )
    D = DISCRIMINATORS.build({"_name_": "stylegan_v", **width}, resolution=resolution, num_frames=3)
    return G.train(), D.train()


def step_gradients(
    G,
    D,
    *,
    device: torch.device,
    precision: str,
    optimized: bool,
    backend: str | None,
    resolution: int,
    batch: int = 4,
    compiled: str = "GD",
) -> dict[str, torch.Tensor]:
    """Gradients of the G loss, D loss and R1 loss, keyed ``"<phase>/<parameter>"`` (float32, detached).

    ``compiled`` names the networks that ``torch.compile`` wraps in the optimised setting.
    A parameter with no path to a loss gets a zero gradient (the fused ops make some R1 paths
    structurally zero where autograd of the plain ops computes zeros).
    """
    from stylegan_v.ops import reference_ops

    G, D = copy.deepcopy(G).to(device), copy.deepcopy(D).to(device)
    if optimized:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G_fwd = torch.compile(G, backend=backend) if optimized and backend and "G" in compiled else G
    D_fwd = torch.compile(D, backend=backend) if optimized and backend and "D" in compiled else D
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(batch, G.z_dim, generator=gen).to(device)
    t = torch.tensor([[0.0, 2.0, 5.0]] * batch, device=device)
    real = (torch.rand(batch, 3, 3, resolution, resolution, generator=gen) * 2 - 1).to(device)
    grads = {}

    def collect(phase, loss, params):
        names = [n for n, p in params]
        for n, g in zip(
            names, torch.autograd.grad(loss, [p for _, p in params], allow_unused=True, materialize_grads=True)
        ):
            grads[f"{phase}/{n}"] = g.detach().float().cpu()

    with reference_ops(not optimized):
        torch.manual_seed(2)  # G draws its motion noise from the global generator: the same noise on both sides
        with amp:
            loss_g = LOSS.generator(D_fwd(G_fwd(z, t), t).float()).mean()
        collect("G", loss_g, list(G.named_parameters()))
        with amp:
            with torch.no_grad():
                torch.manual_seed(3)
                fake = G_fwd(z, t)
            on_real, on_fake = LOSS.discriminator(D_fwd(real, t).float(), D_fwd(fake, t).float())
            loss_d = (on_fake + on_real).mean()
        collect("D", loss_d, list(D.named_parameters()))
        real_r1 = real.detach().requires_grad_(True)
        with amp:  # eager module: double backward does not go through torch.compile
            logits = D(real_r1, t).float()
        collect("R1", r1_penalty(logits, real_r1).mean(), list(D.named_parameters()))
    return grads


def relative_errors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    if a.keys() != b.keys():
        raise ValueError(f"gradient sets differ: {sorted(a.keys() ^ b.keys())[:5]}")
    return {k: float((a[k] - b[k]).norm() / b[k].norm().clamp_min(1e-12)) for k in b}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--backend", default="inductor", help="torch.compile backend; 'none' = no compile")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--tolerance", type=float, default=None, help="max relative error (default 1e-4 fp32, 3e-2 bf16)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    tol = args.tolerance or (1e-4 if args.precision == "fp32" else 3e-2)
    backend = None if args.backend == "none" else args.backend
    if backend == "inductor":  # compiled random ops (G's motion noise) must draw what eager draws
        import torch._inductor.config as inductor_config

        inductor_config.fallback_random = True
    G, D = _models(args.resolution, {"channel_base": 512, "channel_max": 32})
    common = dict(device=device, resolution=args.resolution)
    eager = step_gradients(G, D, precision=args.precision, optimized=False, backend=None, **common)
    fast = step_gradients(G, D, precision=args.precision, optimized=True, backend=backend, **common)
    errs = relative_errors(fast, eager)
    for phase in ("G", "D", "R1"):
        mine = {k: v for k, v in errs.items() if k.startswith(phase + "/")}
        print(f"{phase:<3} {len(mine):>3} tensors, max relative error {max(mine.values()):.2e}")
    limits = {k: tol for k in errs}
    if args.precision == "bf16":  # bf16's own error sets the scale: compile may not add more than bf16 itself does
        fp32 = step_gradients(G, D, precision="fp32", optimized=False, backend=None, **common)
        gap = relative_errors(eager, fp32)
        print(f"for scale: eager bf16 vs eager fp32, max relative error {max(gap.values()):.2e}")
        limits = {k: max(tol, 2 * gap[k]) for k in errs}
    worst = max(errs, key=lambda k: errs[k] / limits[k])
    ok = errs[worst] <= limits[worst]
    print(
        f"{'OK' if ok else 'FAIL'}: optimised ({args.precision}, compile backend {backend}) vs eager, worst {worst} "
        f"{errs[worst]:.2e} (limit {limits[worst]:.1e}: max({tol:.0e}, 2x the bf16-vs-fp32 error of that tensor)), "
        f"device {device}"
        if args.precision == "bf16"
        else f"{'OK' if ok else 'FAIL'}: optimised ({args.precision}, compile backend {backend}) "
        f"vs eager, worst {worst} "
        f"{errs[worst]:.2e} (tolerance {tol:.0e}), device {device}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
