"""Training harness: loop, losses, augmentation, EMA, checkpoints, run folder, faults, multi-process.

Modules: ``job`` (one run from a config: run folder, resume, status), ``components`` (build + check
the registry components), ``loop`` (the training schedule), ``losses`` (registered GAN losses, R1),
``augment`` (ADA), ``ema``, ``checkpoint`` (save/load/``load_generator``), ``run_folder``,
``faults``, ``dist``, ``samples`` and ``video_io`` (rendering to GIF/MP4/frames).

What models and losses may declare (all optional; the harness reads attributes, never names):
  * ``G.continuous_time``: fake clips get real-valued start times (else integers);
  * ``G.auxiliary_losses() -> {name: tensor}``: generator-side terms of the last forward (e.g.
    MoCoGAN-HD's mutual information), added to the G loss with weight 1 and logged;
  * ``D.num_frames`` / ``D.sampler`` / ``D.needs_dense_clips``: see ``registry.interfaces``;
  * ``loss.needs_real_logits_for_generator``: the G loss also gets D's logits on a real batch
    (relativistic losses: ``loss.generator(fake_logits, real_logits=...)``);
  * ``loss.penalty(D, real, fake, t) -> [B]`` with ``loss.gp_weight > 0``: a loss's own D
    regulariser (WGAN-GP), added to every D step; lazy R1 stays the harness's (``r1_gamma``).

Training stages (for multi-stage models such as MoCoGAN-HD: image -> PCA -> motion). A generator
declares ``training_stages = ("image", "pca", "motion")`` and may define:
  * ``begin_stage(stage, real_batches, *, ema=None)``: called once when a stage starts (not again
    on resume); ``real_batches`` yields real ``(frames [B, k, C, H, W] in [-1, 1], times [B, k])``
    batches, ``ema`` (passed when the hook accepts it) is the harness's G_ema. Whatever the hook
    computes (e.g. a PCA basis) must live in the generator's parameters or buffers, so checkpoints
    carry it; the harness copies G into G_ema right after the hook.
  * ``stage_parameters(stage) -> iterable of parameters``: what G's optimizer trains in that stage
    (default: all). The others are frozen.
Per-stage optimiser settings: ``trainer.stage_optim: {motion: {g_lr, d_lr, betas, g_reg_interval,
g_steps}}`` (``g_steps`` = generator steps per discriminator step; MoCoGAN-HD's motion stage: 5).
The config gives every stage but the last a kimg budget (``trainer.stage_kimg: {image: 500, pca: 0}``;
a 0-kimg stage runs only its hook); the last runs to ``trainer.total_kimg``. A discriminator entry
may name the stages it is active in (``_stages_: [motion]``); by default it is active in all.
Single-stage models (the default ``training_stages = ("main",)``) need none of this.

Several discriminators: ``discriminator: {discriminators: [entry, ...]}`` where each entry is a
registry spec plus harness keys ``_sampler_`` (its clips; default: the D's declared sampler, or the
top-level ``sampler`` for the first), ``_loss_``, ``_weight_`` (in the G loss), ``_r1_gamma_`` and
``_stages_``. Their G losses are summed with the weights; each D has its own Adam.
"""
from . import augment, losses  # noqa: F401 - register augmentations and losses
