"""Training runs -> a zoo version: one quality per run (experiments/export.py for image runs,
experiments/export_video.py for video runs).

The runs must share one config; they are ordered by lambda (the largest = quality 1 = the
lowest rate). Each run's latest checkpoint becomes ``zoo/<name>/<version>/q<quality>/`` with a
manifest record of its training: lambda, steps, data, crop and batch size, learning rate,
checkpoint, and the stages of its ``--init_from`` chain (:mod:`tfc_swin.training.history`).
An image "run" may also be an earlier export (``zoo/<name>/<version>/q<quality>``, e.g. of a run
whose folder was on another machine): the same weights go into the new version with that
export's manifest record (``copied_from`` says where from).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from tfc_swin import zoo
from tfc_swin.codecs import restore_codec
from tfc_swin.codecs.image import MODEL_INFO_FILE
from tfc_swin.training import history, run_dir

#: Optional train-config fields copied into the record when a run has them (video runs).
_OPTIONAL_FIELDS = ("frames",)


def _export_config(path: str) -> dict[str, Any]:
  """``model`` and ``lmbda`` of an exported model (as a run's train config has them) and its
  manifest ``record``."""
  record = zoo.folder_record(path)
  if not record or "lmbda" not in record:
    raise ValueError(f"{path}: an export without a zoo manifest record (lambda unknown)")
  with open(os.path.join(path, MODEL_INFO_FILE)) as f:
    return {"model": json.load(f)["config"], "lmbda": record["lmbda"], "record": record}


def runs_by_quality(runs: list[str]) -> tuple[str, list[tuple[int, str, dict[str, Any]]]]:
  """(the runs' config name, [(quality, run, train config), ...] by falling lambda); an
  exported model's "train config" is :func:`_export_config`."""
  configs = [(run, _export_config(run) if tf.saved_model.contains_saved_model(run)
              else run_dir.read_config(run)) for run in runs]
  models = {c["model"] for _, c in configs}
  if len(models) != 1:
    raise ValueError(f"runs mix configs {sorted(models)}")
  configs.sort(key=lambda rc: -rc[1]["lmbda"])
  return models.pop(), [(q, run, cfg) for q, (run, cfg) in enumerate(configs, start=1)]


def zoo_record(run: str, checkpoint: str, cfg: dict[str, Any]) -> dict[str, Any]:
  """The manifest record of a run's checkpoint (``cfg``: the run's train config)."""
  stages = history.run_history(run, checkpoint)
  return {"lmbda": cfg["lmbda"], "steps": run_dir.checkpoint_step(checkpoint),
          "training_data": cfg["data"], "patch_size": cfg["patch_size"],
          "batch_size": cfg["batch_size"], "learning_rate": cfg["learning_rate"],
          **{k: cfg[k] for k in _OPTIONAL_FIELDS if k in cfg},
          "checkpoint": os.path.basename(checkpoint), **history.summarize(stages),
          "history": stages}


def export_runs(runs: list[str], version: str, name: str | None = None,
                restore: Callable[[str, str], Any] = run_dir.restore_codec,
                measure: Callable[[Any, str], dict[str, Any]] | None = None,
                log: Callable[[str], None] = print) -> tuple[str, int]:
  """Adds the latest checkpoint of each run to the zoo as a quality of ``name`` (default: the
  runs' config) version ``version``; returns the name and the number of qualities.

  ``restore(run, checkpoint)`` builds the codec (default: an image codec); ``measure(codec,
  model name)``, if given, returns more record fields (e.g. ``{"kodak": ...}``).
  """
  config, ordered = runs_by_quality(runs)
  name = name or config
  for quality, run, cfg in ordered:
    if "record" in cfg:  # an earlier export: same weights, same record
      codec = restore_codec(run)
      record = {**cfg["record"], "copied_from": os.path.normpath(run)}
    else:
      checkpoint = run_dir.latest_checkpoint(run)
      if not checkpoint:
        raise ValueError(f"{run}: no checkpoint")
      codec = restore(run, checkpoint)
      record = zoo_record(run, checkpoint, cfg)
    if measure is not None:
      record.update(measure(codec, zoo.entry_name(name, version, quality)))
    folder = zoo.add_to_zoo(codec, name, version, quality, record)
    log(f"exported {run} (lambda {cfg['lmbda']}, step {record['steps']}) -> {folder}")
  return name, len(ordered)
