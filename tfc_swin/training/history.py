"""Training history of a run: its stages back through ``--init_from`` (for zoo manifests).

A zoo model is often trained in stages (a base run, then a fine-tune at another lambda that
starts from it, each possibly resumed several times on other machines). ``run_history``
follows ``init_from`` back to the first run and reports each stage's lambda, learning rate,
steps and the wall time recorded in its ``progress.json``.
"""
from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from tfc_swin import zoo
from tfc_swin.training import run_dir as runs

_STAGE_KEYS = ("model", "lmbda", "learning_rate", "patch_size", "batch_size", "data")
_SCHEDULE_KEYS = ("start_step", "end_step", "learning_rate", "final_learning_rate",
                  "lr_drop_step")


def _saved_model_history(path: str) -> list[dict[str, Any]]:
  """History recorded in the zoo manifest of an exported model (``zoo/<name>/<v>/q<q>``)."""
  record = zoo.folder_record(path)
  if record:
    return record.get("history") or [{k: record.get(k) for k in _STAGE_KEYS + ("steps",)}
                                      | {"run": path}]
  return [{"run": path, "steps": None}]


def run_history(run_dir: str, checkpoint: str | None = None) -> list[dict[str, Any]]:
  """Stages that produced ``checkpoint`` (default: the run's latest), oldest first.

  Each stage: run, model, lmbda, learning_rate, patch_size, batch_size, data, steps (of that
  stage), seconds and tracked_steps (from progress.json; runs older than it have none), the
  learning-rate schedule of each resumed segment and the validation points (``--eval_data``).
  """
  config = runs.read_config(run_dir)
  checkpoint = checkpoint or runs.latest_checkpoint(run_dir)
  if not checkpoint:
    raise ValueError(f"{run_dir}: no checkpoint")
  # A run continued with --initial_step counts on from there: its own steps start at 0.
  first = config.get("initial_step") or 0
  steps = runs.checkpoint_step(checkpoint)
  progress = runs.read_progress(run_dir)
  segments = [s for s in progress["segments"] if s["end_step"] > s["start_step"] < steps]
  done = [min(s["end_step"], steps) - s["start_step"] for s in segments]
  seconds = [s["seconds"] * d / (s["end_step"] - s["start_step"]) for s, d in zip(segments, done)]
  stage = {"run": os.path.basename(os.path.normpath(run_dir)),
           **{k: config.get(k) for k in _STAGE_KEYS}, "steps": steps - first,
           "tracked_steps": sum(done), "seconds": round(sum(seconds), 1),
           "hosts": sorted({s["host"] for s in segments}),
           "devices": sorted({f"{s['replicas']}x {s['device']}" for s in segments}),
           "schedule": [{k: s[k] for k in _SCHEDULE_KEYS} for s in segments
                        if "learning_rate" in s],
           "validation": [{**v, "step": v["step"] - first}
                          for v in progress.get("validation", []) if v["step"] <= steps]}
  parent = config.get("init_from")
  if not parent:
    return [stage]
  source = progress.get("init_checkpoint", "")
  if tf.saved_model.contains_saved_model(parent):
    earlier = _saved_model_history(parent)
  elif runs.is_run(parent):
    earlier = run_history(parent, source or None)
  else:
    earlier = [{"run": parent, "steps": None}]
  return earlier + [stage]


def _stage_hours(stage: dict[str, Any]) -> float:
  """Wall hours of a stage (0 for stages trained before progress.json tracked time)."""
  return (stage.get("seconds") or 0) / 3600


def validation_curve(history: list[dict[str, Any]]) -> list[dict[str, float]]:
  """Validation points of all stages: ``step`` counted from the start of the first stage and
  ``hours`` of tracked training wall time before the point (linear within a stage)."""
  points, offset, hours = [], 0, 0.0
  for stage in history:
    steps = stage.get("steps") or 0
    for v in stage.get("validation") or []:
      points.append({**v, "step": offset + v["step"],
                     "hours": hours + _stage_hours(stage) * v["step"] / max(steps, 1)})
    offset += steps
    hours += _stage_hours(stage)
  return points


def speed_curve(history: list[dict[str, Any]]) -> list[dict[str, float]]:
  """Training speed of each tracked stage: ``start`` and ``end`` (wall hours) and
  ``steps_per_s``."""
  points, hours = [], 0.0
  for stage in history:
    if stage.get("seconds") and stage.get("tracked_steps"):
      points.append({"start": hours, "end": hours + _stage_hours(stage),
                     "steps_per_s": stage["tracked_steps"] / stage["seconds"]})
    hours += _stage_hours(stage)
  return points


def summarize(history: list[dict[str, Any]]) -> dict[str, Any]:
  """Total steps, tracked wall hours and untracked steps over all stages."""
  steps = sum(s.get("steps") or 0 for s in history)
  tracked = sum(s.get("tracked_steps") or 0 for s in history)
  return {"total_steps": steps, "train_hours": round(sum(s.get("seconds") or 0
                                                         for s in history) / 3600, 2),
          "untracked_steps": steps - tracked}
