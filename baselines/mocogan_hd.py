"""MoCoGAN-HD-style generator (Tian et al., ICLR 2021): a frozen image StyleGAN2 driven through W by an LSTM.

Three training stages, run by the harness in one run (``training_stages``):
  1. ``image``: the StyleGAN2 image generator (our ``stylegan_v.layers`` mapping + synthesis) trains on
     single frames like any image GAN; the generator's videos are static (every frame is ``w_0``).
  2. ``pca``: the image generator is frozen; PCA of ``w = mapping(z)`` over many samples gives the
     top ``n_pca`` principal directions ``U`` and their standard deviations ``sigma``.
  3. ``motion``: only the motion network trains. ``w_0 = mapping(z)`` is the first frame; an LSTM
     (initial state from an encoder cell on ``w_0``, one Gaussian noise vector per step) predicts
     bounded residuals inside the PCA subspace:
     ``w_t = w_{t-1} + lambda * tanh(h_t A + b) @ (U * sigma)``; a mutual-information loss
     ``-cos(MLP([h_t, c_t]), eps_t)`` keeps the noise in the state (against motion collapse).

Integer time only; long videos unroll the LSTM (``RecurrentVideoGenerator``: constant memory).

Simplifications (documented for the README): the image generator is our own StyleGAN2 trained in
stage 1 rather than a separately tuned checkpoint (``pretrained_image_generator`` loads one from a
checkpoint instead); PCA is an eigen-decomposition of the covariance of ``pca_num_samples`` w's
(official: sklearn IncrementalPCA on 1M); StyleGAN2's spatial noise is off unless ``image_noise``
(needed for StyleGAN2-ADA pickles, which all have it); the generator runs at the dataset resolution
(official: 256² frames average-pooled to 128² before the discriminators).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from registry import GENERATORS
from stylegan_v.layers import MappingNetwork, SynthesisNetwork

from .recurrent import RecurrentVideoGenerator

STAGES = ("image", "pca", "motion")


class MotionLSTM(nn.Module):
    """The motion network: encoder cell on ``w_0``, a noise-driven LSTM cell, the PCA-coefficient head
    ``A`` and the mutual-information head."""

    def __init__(self, *, w_dim: int, noise_dim: int, hidden_dim: int, n_pca: int):
        super().__init__()
        self.enc_cell = nn.LSTMCell(w_dim, hidden_dim)
        self.cell = nn.LSTMCell(noise_dim, hidden_dim)
        self.coeffs = nn.Linear(hidden_dim, n_pca)
        self.mi_head = nn.Sequential(nn.Linear(2 * hidden_dim, w_dim), nn.ReLU(), nn.Linear(w_dim, noise_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As the official code: orthogonal LSTM weights per gate, zero biases; coefficient head N(0, 0.02)."""
        for cell in (self.enc_cell, self.cell):
            for weight in (cell.weight_ih, cell.weight_hh):
                for gate in weight.data.chunk(4, dim=0):
                    nn.init.orthogonal_(gate)
            nn.init.zeros_(cell.bias_ih)
            nn.init.zeros_(cell.bias_hh)
        nn.init.normal_(self.coeffs.weight, 0.0, 0.02)
        nn.init.zeros_(self.coeffs.bias)
        for layer in self.mi_head:
            if isinstance(layer, nn.Linear):
                nn.init.orthogonal_(layer.weight)
                nn.init.zeros_(layer.bias)


@GENERATORS.register("mocogan_hd", aliases=["mocogan-hd"])
class MoCoGANHDGenerator(RecurrentVideoGenerator):
    """MoCoGAN-HD: ``G(z, t)`` at integer t; frame 0 is the image generator's sample of ``w_0 = mapping(z)``."""

    training_stages = STAGES

    def __init__(
        self,
        *,
        resolution: int = 256,
        z_dim: int = 512,
        w_dim: int = 512,
        mapping_layers: int = 8,
        channel_base: int = 32768,
        channel_max: int = 512,
        conv_clamp: float | None = 256,
        hidden_dim: int = 384,
        n_pca: int | None = 384,
        residual_scale: float = 0.2,
        pca_num_samples: int = 100_000,
        pretrained_image_generator: str | None = None,
        image_noise: bool = False,
    ):
        super().__init__()
        self.resolution, self.z_dim, self.w_dim = int(resolution), int(z_dim), int(w_dim)
        self.n_pca = int(n_pca) if n_pca is not None else (3 * self.w_dim) // 4
        if not 1 <= self.n_pca <= self.w_dim:
            raise ValueError(f"mocogan_hd: n_pca must be in [1, w_dim={self.w_dim}], got {n_pca}")
        self.residual_scale, self.pca_num_samples = float(residual_scale), int(pca_num_samples)
        self.motion_noise_dim = self.w_dim
        self.pretrained_image_generator = pretrained_image_generator
        self.channel_base, self.channel_max, self.mapping_layers = (
            int(channel_base),
            int(channel_max),
            int(mapping_layers),
        )
        self.image_noise = bool(image_noise)
        self.mapping = MappingNetwork(z_dim=self.z_dim, w_dim=self.w_dim, num_layers=mapping_layers)
        self.synthesis = SynthesisNetwork(
            w_dim=self.w_dim,
            resolution=self.resolution,
            channel_base=channel_base,
            channel_max=channel_max,
            conv_clamp=conv_clamp,
            use_noise=self.image_noise,
        )
        self.motion = MotionLSTM(
            w_dim=self.w_dim, noise_dim=self.motion_noise_dim, hidden_dim=hidden_dim, n_pca=self.n_pca
        )
        # PCA of W (rows: principal directions) and the stage; buffers, so G_ema and checkpoints carry them.
        self.register_buffer("pca_components", torch.zeros(self.n_pca, self.w_dim))
        self.register_buffer("pca_std", torch.zeros(self.n_pca))
        self.register_buffer("stage_index", torch.zeros((), dtype=torch.int64))
        self._aux: dict[str, torch.Tensor] = {}
        self._mi_terms: list[torch.Tensor] = []

    # ------------------------------------------------------------------------------ stages
    @property
    def stage(self) -> str:
        return STAGES[int(self.stage_index)]

    def stage_parameters(self, stage: str) -> list[nn.Parameter]:
        """What trains in a stage: the image generator, nothing (PCA), or the motion network only."""
        self._check_stage(stage)
        if stage == "image":
            return [*self.mapping.parameters(), *self.synthesis.parameters()]
        if stage == "motion":
            return list(self.motion.parameters())
        return []

    def begin_stage(self, stage: str, real_batches: Any = None, *, ema: nn.Module | None = None) -> None:
        """Enter a stage (the harness calls this once per stage; ``real_batches`` is not needed here).

        ``pca``: take the image generator from ``ema`` (the harness's G_ema: MoCoGAN-HD freezes the
        EMA image generator) or, with ``pretrained_image_generator`` set, from that checkpoint; freeze
        it; compute the PCA of W. ``motion``: the image generator stays frozen.
        """
        self._check_stage(stage)
        self.stage_index.fill_(STAGES.index(stage))
        if stage == "pca":
            if self.pretrained_image_generator:
                self.load_image_generator(self.pretrained_image_generator)
            elif ema is not None:
                image_keys = {k: v for k, v in ema.state_dict().items() if k.startswith(("mapping.", "synthesis."))}
                self.load_state_dict(image_keys, strict=False)
            self.compute_pca()
        for p in [*self.mapping.parameters(), *self.synthesis.parameters()]:
            p.requires_grad_(stage == "image")

    def _check_stage(self, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"mocogan_hd: unknown training stage '{stage}'; stages are {', '.join(STAGES)}")

    @torch.no_grad()
    def compute_pca(self, num_samples: int | None = None, batch_size: int = 10_000) -> None:
        """Top ``n_pca`` principal directions of W and their std (sqrt of the explained variance)."""
        n = int(num_samples or self.pca_num_samples)
        if n < self.n_pca:
            raise ValueError(f"mocogan_hd: pca_num_samples={n} must be at least n_pca={self.n_pca}")
        device = self.pca_components.device
        total = torch.zeros(self.w_dim, dtype=torch.float64, device=device)
        outer = torch.zeros(self.w_dim, self.w_dim, dtype=torch.float64, device=device)
        for start in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - start), self.z_dim, device=device)
            w = self.mapping(z, update_w_avg=False).double()
            total += w.sum(0)
            outer += w.t() @ w
        mean = total / n
        cov = outer / n - torch.outer(mean, mean)
        eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
        order = torch.argsort(eigvals, descending=True)[: self.n_pca]
        self.pca_components.copy_(eigvecs[:, order].t().float())
        self.pca_std.copy_(eigvals[order].clamp_min(0).sqrt().float())

    def load_image_generator(self, path: str) -> None:
        """Load mapping + synthesis (G_ema's) from an sgvb checkpoint of an image-stage or StyleGAN-style run, or
        from a StyleGAN2-ADA network pickle (``.pkl``, read safely by ``stylegan_v.official``)."""
        if str(path).endswith(".pkl"):
            from stylegan_v.official import image_generator_state

            weights = image_generator_state(
                path,
                resolution=self.resolution,
                z_dim=self.z_dim,
                w_dim=self.w_dim,
                mapping_layers=self.mapping_layers,
                channel_base=self.channel_base,
                channel_max=self.channel_max,
                use_noise=self.image_noise,
            )
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except FileNotFoundError:
                raise FileNotFoundError(f"mocogan_hd: pretrained_image_generator '{path}' does not exist") from None
            weights = state.get("G_ema", state.get("G", state)) if isinstance(state, dict) else None
        image = {k: v for k, v in (weights or {}).items() if k.startswith(("mapping.", "synthesis."))}
        if not image:
            raise ValueError(
                f"mocogan_hd: '{path}' holds no image generator weights (keys 'mapping.*', 'synthesis.*' "
                f"under 'G_ema' or 'G')"
            )
        missing, unexpected = self.load_state_dict(image, strict=False)
        missing = [k for k in missing if k.startswith(("mapping.", "synthesis."))]
        if missing or unexpected:
            raise ValueError(
                f"mocogan_hd: '{path}' does not match this image generator "
                f"(missing {missing[:5]}, unexpected {unexpected[:5]}); check resolution and widths"
            )

    # ------------------------------------------------------------------------------ recurrence
    def init_motion(self, z, truncation_psi, noise0):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"mocogan_hd: z must be [B, {self.z_dim}], got {list(z.shape)}")
        w0 = self.mapping(z, truncation_psi=truncation_psi)
        self._mi_terms = []
        if self.stage != "motion":
            return w0, None  # image/PCA stages: static videos of the image generator's samples
        h, c = self.motion.enc_cell(w0)
        return w0, (w0, h, c)

    def motion_step(self, content, state, noise):
        if state is None:
            return None
        w, h, c = state
        h, c = self.motion.cell(noise, (h, c))
        coeffs = torch.tanh(self.motion.coeffs(h))  # [B, n_pca], bounded
        basis = self.pca_components * self.pca_std[:, None]  # [n_pca, w_dim]
        w = w + self.residual_scale * coeffs @ basis.to(coeffs.dtype)
        if torch.is_grad_enabled() and self.training:
            recon = self.motion.mi_head(torch.cat([h, c], dim=1))
            self._mi_terms.append(-F.cosine_similarity(recon, noise.detach(), dim=1).mean())
        return w, h, c

    def frame_code(self, content, state):
        return content if state is None else state[0]

    @property
    def noise_mode(self) -> str:
        """Spatial noise of the image generator (with ``image_noise``): fresh draws while it trains
        (``image`` stage), its fixed ``noise_const`` images once frozen: a frozen generator must give
        one frame per latent, so the motion network alone makes frames differ (and PCA/W edits are
        not blurred by per-call noise)."""
        return "random" if self.stage == "image" else "const"

    def render(self, content, codes):
        frames = self.synthesis(rearrange(codes, "b t d -> (b t) d"), noise_mode=self.noise_mode)  # [(B T), 3, R, R]
        return rearrange(frames, "(b t) c h w -> b t c h w", b=codes.shape[0])

    def forward(self, z, t, motion_noise=None, truncation_psi=1.0):
        frames = super().forward(z, t, motion_noise=motion_noise, truncation_psi=truncation_psi)
        self._aux = {"mutual_info": torch.stack(self._mi_terms).mean()} if self._mi_terms else {}
        self._mi_terms = []
        return frames

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        """Generator-side losses of the last ``forward`` (MoCoGAN-HD's mutual-information term), added
        to the adversarial generator loss with weight 1 as in the official code."""
        return dict(self._aux)

    def extra_repr(self) -> str:
        return f"stage={self.stage}, n_pca={self.n_pca}, residual_scale={self.residual_scale}"
