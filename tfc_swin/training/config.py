"""The configuration of a training run (Zhu et al. 2022 App. B.1), and its command-line flags.

Every :class:`TrainConfig` field is one absl flag of ``experiments/train.py`` with the same
name, default and help text (:func:`define_flags`, :func:`from_flags`).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Optional

from absl import flags


def _field(help_: str, default: Any = dataclasses.MISSING, **metadata: Any) -> Any:
  return dataclasses.field(default=default, metadata={"help": help_, **metadata})


@dataclasses.dataclass
class TrainConfig:
  """Everything a training run needs; stored as ``train_config.json`` in the run folder."""
  model: str = _field("Config registry name (see `tfc-swin models`).")
  lmbda: float = _field("Rate-distortion trade-off lambda (L = D + lambda R).")
  data: str = _field("Image folder or glob, or tfds:NAME (e.g. tfds:clic; needs the tfds "
                     "extra).")
  run_dir: str = _field("Run folder: checkpoints, summaries, train_config.json.")
  steps: int = _field("Total training steps.", 2_000_000)
  patch_size: int = _field("Random crop size.", 256)
  batch_size: int = _field("Global batch size.", 8)
  learning_rate: float = _field("Initial learning rate.", 1e-4)
  final_learning_rate: float = _field("Learning rate after --lr_drop_step (step schedule) or "
                                      "at --steps (cosine).", 1e-5)
  lr_drop_step: Optional[int] = _field("Step of the learning-rate drop (default: 90% of "
                                       "--steps, 1.8M of 2M in the paper).", None)
  lr_schedule: str = _field("step: the paper's drop at --lr_drop_step (B.1); cosine: decay to "
                            "--final_learning_rate at --steps.", "step",
                            choices=("step", "cosine"))
  warmup_steps: int = _field("Linear learning-rate warm-up steps (both schedules).", 0)
  clip_norm: float = _field("Clip gradients to this global norm (0 = off, as in the paper); "
                            "non-finite steps are always skipped.", 0.0)
  max_minutes: float = _field("Stop (with a checkpoint) after this many minutes; 0 = off.", 0.0)
  init_from: str = _field("Run folder, checkpoint or SavedModel to start from: the whole model "
                          "if it has the same prior, else its transforms and hyper prior "
                          "(B.1: SwinT-ChARM from SwinT-Hyperprior).", "")
  strategy: str = _field("tf.distribute strategy.", "default",
                         choices=("default", "mirrored", "multi_worker"))
  checkpoint_every: int = _field("Steps between checkpoints.", 500)
  log_every: int = _field("Steps between progress lines and scalar summaries.", 50)
  image_summary_every: int = _field("Steps between reconstruction image summaries.", 1000)
  eval_data: str = _field("Validation images (folder/glob): centre crops coded with rounding "
                          "every --eval_every steps (PSNR/bpp to log, TensorBoard and "
                          "progress.json); empty = off.", "")
  eval_every: int = _field("Steps between validations.", 1000)
  eval_images: int = _field("Number of validation images (the first, sorted).", 8)
  eval_size: int = _field("Validation crop size (multiple of 64).", 256)
  seed: int = _field("Random seed.", 0)

  @property
  def drop_step(self) -> int:
    return self.lr_drop_step if self.lr_drop_step is not None else int(0.9 * self.steps)


_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string,
           bool: flags.DEFINE_bool}


def _flag_type(hint: Any) -> type:
  """``int`` for ``Optional[int]``, and so on."""
  args = [a for a in typing.get_args(hint) if a is not type(None)]
  return args[0] if args else hint


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines one flag per :class:`TrainConfig` field; fields without a default are required."""
  hints = typing.get_type_hints(TrainConfig)
  required = []
  for field in dataclasses.fields(TrainConfig):
    default = None if field.default is dataclasses.MISSING else field.default
    if field.default is dataclasses.MISSING:
      required.append(field.name)
    if "choices" in field.metadata:
      flags.DEFINE_enum(field.name, default, list(field.metadata["choices"]),
                        field.metadata["help"], flag_values=flag_values)
    else:
      _DEFINE[_flag_type(hints[field.name])](field.name, default, field.metadata["help"],
                                             flag_values=flag_values)
  flags.mark_flags_as_required(required, flag_values=flag_values)


def from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> TrainConfig:
  """The TrainConfig of parsed flags defined by :func:`define_flags`."""
  return TrainConfig(**{f.name: flag_values[f.name].value
                        for f in dataclasses.fields(TrainConfig)})
