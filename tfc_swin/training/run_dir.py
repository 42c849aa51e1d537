"""A training run folder and what it holds.

    RUN/train_config.json        the TrainConfig the run was started (or last resumed) with
    RUN/checkpoints/ckpt-<step>  model + optimizer checkpoints (the step is in the name)
    RUN/progress.json            steps, wall time and schedule of every process that trained it,
                                 validation points, the checkpoint ``--init_from`` read
    RUN/summaries/               TensorBoard
"""
from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf

from tfc_swin import fileio
from tfc_swin.codecs import ImageCodec, build_codec
from tfc_swin.training.config import codec_config

CONFIG_FILE = "train_config.json"
PROGRESS_FILE = "progress.json"
CHECKPOINTS = "checkpoints"


def is_run(path: str) -> bool:
  return os.path.isfile(os.path.join(path, CONFIG_FILE))


def _read_json(path: str) -> dict[str, Any]:
  with open(path) as f:
    return json.load(f)


def read_config(run: str) -> dict[str, Any]:
  """The run's ``train_config.json`` as a dict (older runs may lack newer fields)."""
  path = os.path.join(run, CONFIG_FILE)
  if not os.path.exists(path):
    raise ValueError(f"{run}: not a training run folder (no {CONFIG_FILE})")
  return _read_json(path)


def write_config(run: str, config: dict[str, Any]) -> None:
  fileio.write_json(os.path.join(run, CONFIG_FILE), config)


def read_progress(run: str) -> dict[str, Any]:
  """The run's ``progress.json``: one segment (steps, wall seconds, host) per process."""
  path = os.path.join(run, PROGRESS_FILE)
  return _read_json(path) if os.path.exists(path) else {"segments": []}


def write_progress(run: str, progress: dict[str, Any]) -> None:
  fileio.write_json(os.path.join(run, PROGRESS_FILE), progress)


def checkpoint_dir(run: str) -> str:
  return os.path.join(run, CHECKPOINTS)


def latest_checkpoint(run: str) -> str | None:
  return tf.train.latest_checkpoint(checkpoint_dir(run))


def checkpoint_step(checkpoint: str) -> int:
  """The training step of a checkpoint prefix ``.../ckpt-<step>``."""
  return int(checkpoint.rsplit("-", 1)[1])


def locate(source: str) -> tuple[str, str]:
  """(run folder, checkpoint) of a run folder (its latest checkpoint), its ``checkpoints``
  folder, or a checkpoint prefix inside a run."""
  if is_run(source):
    run, checkpoint = source, latest_checkpoint(source)
  elif os.path.isdir(source):
    run, checkpoint = os.path.dirname(os.path.normpath(source)), tf.train.latest_checkpoint(source)
  else:
    run, checkpoint = os.path.dirname(os.path.dirname(os.path.abspath(source))), source
  if not is_run(run):
    raise ValueError(f"{source}: not a training run folder, its checkpoints folder or one of "
                     "its checkpoints")
  if not checkpoint or not tf.io.gfile.exists(checkpoint + ".index"):
    raise ValueError(f"{source}: no checkpoint")
  return run, checkpoint


def restore_codec(run: str, checkpoint: str | None = None) -> ImageCodec:
  """The run's codec with the weights of ``checkpoint`` (default: the latest)."""
  checkpoint = checkpoint or latest_checkpoint(run)
  if not checkpoint:
    raise ValueError(f"{run}: no checkpoint")
  codec = build_codec(codec_config(read_config(run)))
  tf.train.Checkpoint(model=codec).read(checkpoint).assert_existing_objects_matched() \
      .expect_partial()
  return codec
