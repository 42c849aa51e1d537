"""``--init_from``: starting a run from the weights of another run or of an exported model.

Zhu et al. 2022 App. B.1 fork whole models to other lambdas, and start SwinT-ChARM from the
transforms of a trained SwinT-Hyperprior. So a source with the same transforms, prior and
wrapper gives every weight; one with the same transforms gives the transforms and the hyper
prior, plus the latent prior when it is the same (ICT -> AICT: only the scale-adaptation
module starts fresh); other transforms are refused.
Transforms that differ only in how windows are laid out (``fixed_windows``) have the same
weights and count as the same: a model can be fine-tuned into the fixed-window computation.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import tensorflow as tf

from tfc_swin.codecs import ImageCodec, restore_codec
from tfc_swin.training import run_dir

#: What a source with another latent prior (and wrapper) can give.
TRANSFORM_PARTS = ("g_a", "g_s", "h_a", "h_s", "hyperprior")


def load_source(source: str) -> tuple[ImageCodec, str]:
  """(the codec, the checkpoint or SavedModel read) of a run folder, one of its checkpoints,
  or an exported SavedModel (e.g. ``zoo/<model>/<version>/q<quality>``)."""
  if tf.saved_model.contains_saved_model(source):
    return restore_codec(source), os.path.normpath(source)
  run, checkpoint = run_dir.locate(source)
  return run_dir.restore_codec(run, checkpoint), checkpoint


def _weight_shapes(transform: Any) -> Any:
  """The transform config with its computation-only options (no weights) normalized."""
  if hasattr(transform, "fixed_windows"):
    return dataclasses.replace(transform, fixed_windows=False)
  return transform


def shared_parts(codec: ImageCodec, source: ImageCodec) -> tuple[str, ...]:
  """The parts of ``codec`` that ``source`` can initialize (see the module docstring)."""
  mine, theirs = codec.config, source.config
  if _weight_shapes(mine.transform) != _weight_shapes(theirs.transform):
    raise ValueError(f"--init_from: {theirs.name} has other transforms than {mine.name} "
                     f"({theirs.transform} vs {mine.transform}); a run can only start from a "
                     "model with the same transforms")
  if (mine.prior, mine.wrapper) == (theirs.prior, theirs.wrapper):
    return tuple(codec.weight_view())
  return TRANSFORM_PARTS + (("prior",) if mine.prior == theirs.prior else ())


def _copy(name: str, source: tf.Module, target: tf.Module) -> None:
  """Copies the weights (trainable variables; range-coding tables are rebuilt from them)."""
  theirs, mine = source.trainable_variables, target.trainable_variables
  pairs = list(zip(theirs, mine))
  if len(theirs) != len(mine) or any(a.shape != b.shape for a, b in pairs):
    raise ValueError(f"--init_from: the weights of {name} do not match")
  for a, b in pairs:
    b.assign(a)


def init_from(codec: ImageCodec, source: str) -> tuple[str, tuple[str, ...]]:
  """Copies what ``source`` can give into ``codec``; returns (what was read, the parts)."""
  donor, read = load_source(source)
  parts = shared_parts(codec, donor)
  mine, theirs = codec.weight_view(), donor.weight_view()
  for name in parts:
    _copy(name, theirs[name], mine[name])
  return read, parts
