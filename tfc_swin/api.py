"""Resolving a model spec to coders: for images a zoo name, SavedModel folder or config name;
for videos (:func:`load_video_coder`) a zoo name, SavedModel folder, training run folder or
config name.

Importing this module imports no TensorFlow: each function imports what it needs (so that
``load_coder(..., functions_only=True)`` can run on TensorFlow's runtime alone, see
:mod:`tfc_swin.fastload`).
"""
from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING

from tfc_swin import zoo
from tfc_swin.configs import config_names, get_config, video_config_names

if TYPE_CHECKING:
  from tfc_swin.coder import Coder
  from tfc_swin.video.coder import VideoCoder

# pylint: disable=import-outside-toplevel


def untrained_coder(config: str, seed: int = 0) -> Coder:
  """A codec with freshly initialized weights (deterministic for a seed): for demos/tests."""
  import tensorflow as tf
  from tfc_swin.codecs import build_codec
  from tfc_swin.coder import Coder
  tf.keras.utils.set_random_seed(seed)
  codec = build_codec(get_config(config))
  return Coder.from_codec(codec, f"untrained/{config}/seed{seed}",
                          f"UNTRAINED {get_config(config).description} (seed {seed})")


def load_coder(spec: str | None = None, quality: int | None = None,
               version: str = "latest", functions_only: bool = False) -> Coder:
  """One coder: a zoo model (default when ``spec`` is None), a SavedModel folder, or a
  registered config name (untrained weights). Loaded coders are cached per process, per zoo
  folder (``$TFC_SWIN_ZOO`` may change). ``functions_only``: SavedModels load just their
  coding functions (:meth:`Coder.from_saved_model <tfc_swin.coder.Coder.from_saved_model>`; the
  same files, a faster start)."""
  return _load_coder(spec, quality, version, zoo.find_root(), functions_only)


@functools.lru_cache(maxsize=8)
def _load_coder(spec: str | None, quality: int | None, version: str,
                zoo_root: str | None, functions_only: bool = False) -> Coder:
  del zoo_root  # Part of the cache key only: zoo.load reads the zoo from the environment.
  if spec is None or spec in zoo.available_models():
    return zoo.load(spec, quality, version, functions_only)
  if os.path.isdir(spec):
    from tfc_swin.coder import Coder
    return Coder.from_saved_model(spec, functions_only)
  if spec in config_names():
    return untrained_coder(spec)
  raise ValueError(f"unknown model {spec!r}: not a zoo model ({', '.join(zoo.available_models()) or 'none'}"
                   f"), a SavedModel folder, or a config name (see `tfc-swin models`)")


def learned_codec_points(spec: str) -> tuple[str, list[tuple[str, Coder]]]:
  """(family name, [(quality label, coder), ...]) for the evaluation runner."""
  if spec in zoo.available_models():
    return spec, [(f"q{q}", zoo.load(spec, q)) for q in zoo.qualities(spec)]
  coder = load_coder(spec)
  return os.path.basename(os.path.normpath(spec)), [("0", coder)]


def untrained_video_coder(config: str, seed: int = 0) -> VideoCoder:
  """A P-frame codec with freshly initialized weights (deterministic for a seed)."""
  import tensorflow as tf
  from tfc_swin.codecs import build_video_codec
  from tfc_swin.video.coder import VideoCoder
  tf.keras.utils.set_random_seed(seed)
  return VideoCoder.from_codec(build_video_codec(config), f"untrained/{config}/seed{seed}",
                               f"UNTRAINED {config} (seed {seed})")


def run_video_coder(run: str) -> VideoCoder:
  """The coder of a video training run folder's latest checkpoint."""
  from tfc_swin.codecs import build_video_codec
  from tfc_swin.coder import ModelLoadError
  from tfc_swin.training import run_dir
  from tfc_swin.video.coder import VideoCoder
  config = run_dir.read_config(run)["model"]
  if config not in video_config_names():
    raise ModelLoadError(f"{run}: a training run of {config}, not of a video config")
  codec = build_video_codec(config)
  try:
    checkpoint = codec.restore(run)
  except ValueError as error:
    raise ModelLoadError(str(error)) from None
  name = f"{config}@{os.path.basename(os.path.normpath(run))}/{os.path.basename(checkpoint)}"
  return VideoCoder.from_codec(codec, name)


def load_video_coder(spec: str | None = None, quality: int | None = None,
                     version: str = "latest", seed: int = 0) -> VideoCoder:
  """A video coder from a zoo video model (the zoo's video default when ``spec`` is None;
  ``quality``: default the highest; ``version``), a SavedModel folder
  (``experiments/export_video.py``), a video training run folder (its latest checkpoint), or a
  video config name (UNTRAINED weights of ``seed``, for tests and demos: says so on stderr).
  Anything else: ModelLoadError (a zoo model of another kind: ZooError)."""
  import tensorflow as tf
  from tfc_swin.coder import ModelLoadError
  from tfc_swin.training import run_dir
  from tfc_swin.video.coder import VideoCoder
  if spec is None or spec in zoo.available_models():
    return zoo.load_video(spec, quality, version)
  if quality is not None or version != "latest":
    raise ModelLoadError(f"a quality or version selects a zoo model; {spec!r} is not one "
                         f"(zoo: {', '.join(zoo.available_models()) or 'none'})")
  if os.path.isdir(spec) and tf.saved_model.contains_saved_model(spec):
    return VideoCoder.from_saved_model(spec)
  if run_dir.is_run(spec):
    return run_video_coder(spec)
  if spec in video_config_names():
    print(f"WARNING: {spec} is a config name: an UNTRAINED model (random weights, seed {seed})"
          "; its files are only good for tests. Pass an exported SavedModel folder or a video "
          "training run folder.", file=sys.stderr)
    return untrained_video_coder(spec, seed)
  raise ModelLoadError(f"unknown video model {spec!r}: not a zoo model, a SavedModel folder, "
                       "a video training run folder, or a video config "
                       f"({', '.join(video_config_names())})")
