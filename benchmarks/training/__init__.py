"""Training harness: loop, losses, augmentation, EMA, checkpoints, run folder, faults, multi-process.

Modules: ``job`` (one run from its typed config: run folder, resume, status), ``components`` (build +
check the registry components), ``loop`` (the training step and tick), ``snapshots`` (checkpoints,
evaluations, the best checkpoint, pruning), ``init_from`` (start from an official pickle), ``losses``
(registered GAN losses, R1), ``augment`` (ADA), ``ema``, ``faults``, ``dist``, ``samples`` and ``video_io``
(rendering to GIF/MP4/frames). The checkpoint format and the run folder's records are ``benchmarks.records``'s.

What components declare and which hooks the harness calls (``begin_stage``, ``stage_parameters``,
``auxiliary_losses`` of a generator; ``num_frames``, ``sampler``, ``needs_dense_clips`` of a
discriminator; ``needs_real_logits_for_generator``, ``gp_weight``, ``penalty`` of a loss; ``accumulate``,
``adjust``, ``p``, ``interval`` of an augmentation) is written once, with the defaults, in
``registry/interfaces.py``. The harness calls them; it never asks whether they exist. Lazy R1 stays
the harness's (``r1_gamma``).

Training stages (for multi-stage models such as MoCoGAN-HD: image -> PCA -> motion): a generator
declares ``training_stages = ("image", "pca", "motion")`` and overrides ``begin_stage`` (e.g. the PCA)
and ``stage_parameters`` (what trains; the rest is frozen).
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

Importing the package imports none of its modules (the registries import ``losses`` and ``augment`` on
first use, see ``benchmarks/__init__.py``), so a torch-free caller such as ``sgvb table`` (it needs
only ``records``) does not pay for importing torch.
"""
