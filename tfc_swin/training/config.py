"""The configuration of a training run (Zhu et al. 2022 App. B.1), and its command-line flags.

Every :class:`TrainConfig` field is one absl flag of ``experiments/train.py`` with the same
name, default and help text (:func:`define_flags`, :func:`from_flags`); the video trainer's
``VideoTrainConfig`` extends it the same way for ``experiments/train_video.py``.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Optional

from absl import flags

from tfc_swin.configs import CodecConfig, get_config, with_transform_options


def flag_field(help_: str, default: Any = dataclasses.MISSING, **metadata: Any) -> Any:
  """A config field whose help text (and ``choices``, if given) make its flag."""
  return dataclasses.field(default=default, metadata={"help": help_, **metadata})


@dataclasses.dataclass
class TrainConfig:
  """Everything a training run needs; stored as ``train_config.json`` in the run folder."""
  model: str = flag_field("Config registry name (see `tfc-swin models`).")
  lmbda: float = flag_field("Rate-distortion trade-off lambda (L = D + lambda R).")
  data: str = flag_field("Image folder or glob, or tfds:NAME (e.g. tfds:clic; needs the tfds "
                     "extra).")
  run_dir: str = flag_field("Run folder: checkpoints, summaries, train_config.json.")
  steps: int = flag_field("Total training steps.", 2_000_000)
  patch_size: int = flag_field("Random crop size.", 256)
  batch_size: int = flag_field("Global batch size.", 8)
  learning_rate: float = flag_field("Initial learning rate.", 1e-4)
  final_learning_rate: float = flag_field("Learning rate after --lr_drop_step (step schedule) or "
                                      "at --steps (cosine).", 1e-5)
  lr_drop_step: Optional[int] = flag_field("Step of the learning-rate drop (default: 90% of "
                                       "--steps, 1.8M of 2M in the paper).", None)
  lr_schedule: str = flag_field("step: the paper's drop at --lr_drop_step (B.1); cosine: decay to "
                            "--final_learning_rate at --steps.", "step",
                            choices=("step", "cosine"))
  warmup_steps: int = flag_field("Linear learning-rate warm-up steps (both schedules).", 0)
  recompute: bool = flag_field("Recompute Swin block activations in the backward pass instead of "
                               "keeping them: much less memory, about 1.3x the compute "
                               "(docs/complexity.md).", False)
  xla_elementwise: bool = flag_field("Fuse LayerNorm and GELU (and their gradients) with XLA "
                                     "in the training step (tfc_swin.layers.compiled): 1.19x "
                                     "faster for swint-hyperprior-cpu, no gain with fixed "
                                     "windows (docs/complexity.md).", False)
  recompute_gelu: bool = flag_field("With --xla_elementwise --bfloat16_matmuls: compute each "
                                    "Swin MLP's GELU again in the backward pass instead of "
                                    "keeping it (tfc_swin.layers.compiled.gelu_linear): about "
                                    "1 GB less for paper-size SwinT-ChARM at batch 8 of "
                                    "256x256; no gain for the small -cpu configs "
                                    "(docs/complexity.md).", False)
  bfloat16_matmuls: bool = flag_field("Multiply in bfloat16 in the training step's Swin Linear "
                                      "maps (tfc_swin.layers.precision.Linear; weights, "
                                      "LayerNorm, softmax and loss stay float32): for CPUs with "
                                      "AVX512_BF16 / AMX and GPUs (docs/complexity.md).", False)
  clip_norm: float = flag_field("Clip gradients to this global norm (0 = off, as in the paper); "
                            "non-finite steps are always skipped.", 0.0)
  max_minutes: float = flag_field("Stop (with a checkpoint) after this many minutes; 0 = off.", 0.0)
  init_from: str = flag_field("Run folder, checkpoint or SavedModel to start from: the whole model "
                          "if it has the same prior, else its transforms and hyper prior "
                          "(B.1: SwinT-ChARM from SwinT-Hyperprior).", "")
  initial_step: int = flag_field("Start the step counter (and so the learning-rate schedule) here "
                             "rather than at 0: continues a run whose folder is lost (another "
                             "machine) from an export of it, --init_from zoo/<model>/<v>/q<q> "
                             "--initial_step <its manifest's steps>, same model, lambda and "
                             "schedule flags. Adam's moments start fresh.", 0)
  strategy: str = flag_field("tf.distribute strategy.", "default",
                         choices=("default", "mirrored", "multi_worker"))
  checkpoint_every: int = flag_field("Steps between checkpoints.", 500)
  log_every: int = flag_field("Steps between progress lines and scalar summaries.", 50)
  image_summary_every: int = flag_field("Steps between reconstruction image summaries.", 1000)
  eval_data: str = flag_field("Validation images (folder/glob): centre crops coded with rounding "
                          "every --eval_every steps (PSNR/bpp to log, TensorBoard and "
                          "progress.json); empty = off.", "")
  eval_every: int = flag_field("Steps between validations.", 1000)
  eval_images: int = flag_field("Number of validation images (the first, sorted).", 8)
  eval_size: int = flag_field("Validation crop size (multiple of 64).", 256)
  seed: int = flag_field("Random seed.", 0)
  transform_options: str = flag_field(
      "Replace scalar fields of the config's transform, e.g. 'fixed_windows=true,"
      "hyper_plain_embedding=true' (ablations, e.g. docs/zoo.md 'Issue 15 A/B'); empty = as "
      "registered."
      " Fixed for the whole run.", "")

  @property
  def drop_step(self) -> int:
    return self.lr_drop_step if self.lr_drop_step is not None else int(0.9 * self.steps)


def codec_config(run_config: dict[str, Any]) -> CodecConfig:
  """The codec config of an image run (``train_config.json`` as a dict): the registered
  ``model`` with the run's ``transform_options``."""
  return with_transform_options(get_config(run_config["model"]),
                                run_config.get("transform_options", ""))


_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string,
           bool: flags.DEFINE_bool}


def _flag_type(hint: Any) -> type:
  """``int`` for ``Optional[int]``, and so on."""
  args = [a for a in typing.get_args(hint) if a is not type(None)]
  return args[0] if args else hint


def define_flags(flag_values: flags.FlagValues = flags.FLAGS,
                 config_class: type = TrainConfig, mark_required: bool = True) -> list[str]:
  """Defines one flag per field of :class:`TrainConfig` (or of a subclass, e.g.
  :class:`~tfc_swin.training.video.VideoTrainConfig`); fields without a default are required:
  marked so unless ``mark_required`` is false (a binary that tests import marks them when
  run). Returns the required flags' names."""
  hints = typing.get_type_hints(config_class)
  required = []
  for field in dataclasses.fields(config_class):
    default = None if field.default is dataclasses.MISSING else field.default
    if field.default is dataclasses.MISSING:
      required.append(field.name)
    if "choices" in field.metadata:
      flags.DEFINE_enum(field.name, default, list(field.metadata["choices"]),
                        field.metadata["help"], flag_values=flag_values)
    else:
      _DEFINE[_flag_type(hints[field.name])](field.name, default, field.metadata["help"],
                                             flag_values=flag_values)
  if mark_required:
    flags.mark_flags_as_required(required, flag_values=flag_values)
  return required


def define_device_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """``--threads`` and ``--logical_cpus`` of the training binaries (see
  :func:`tfc_swin.training.trainer.setup_devices`)."""
  flags.DEFINE_integer("threads", 0, "TF intra-op threads (0 = TensorFlow's default).",
                       flag_values=flag_values)
  flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical devices "
                       "(to test --strategy mirrored without GPUs).", flag_values=flag_values)


def from_flags(flag_values: flags.FlagValues = flags.FLAGS,
               config_class: type = TrainConfig) -> TrainConfig:
  """The config (a ``config_class``) of parsed flags defined by :func:`define_flags`."""
  return config_class(**{f.name: flag_values[f.name].value
                         for f in dataclasses.fields(config_class)})
