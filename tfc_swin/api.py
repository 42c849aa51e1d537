"""Resolving a model spec (zoo name, SavedModel folder or config name) to coders."""
from __future__ import annotations

import functools
import os

import tensorflow as tf

from tfc_swin import zoo
from tfc_swin.codecs import build_codec
from tfc_swin.coder import Coder
from tfc_swin.configs import config_names, get_config


def untrained_coder(config: str, seed: int = 0) -> Coder:
  """A codec with freshly initialized weights (deterministic for a seed): for demos/tests."""
  tf.keras.utils.set_random_seed(seed)
  codec = build_codec(get_config(config))
  return Coder.from_codec(codec, f"untrained/{config}/seed{seed}",
                          f"UNTRAINED {get_config(config).description} (seed {seed})")


def load_coder(spec: str | None = None, quality: int | None = None,
               version: str = "latest") -> Coder:
  """One coder: a zoo model (default when ``spec`` is None), a SavedModel folder, or a
  registered config name (untrained weights). Loaded coders are cached per process, per zoo
  folder (``$TFC_SWIN_ZOO`` may change)."""
  return _load_coder(spec, quality, version, zoo.find_root())


def _zoo_models() -> list[str]:
  """The zoo's model names; none when there is no zoo (config names still resolve)."""
  return zoo.models() if zoo.find_root() else []


@functools.lru_cache(maxsize=8)
def _load_coder(spec: str | None, quality: int | None, version: str,
                zoo_root: str | None) -> Coder:
  del zoo_root  # Part of the cache key only: zoo.load reads the zoo from the environment.
  if spec is None or spec in _zoo_models():
    return zoo.load(spec, quality, version)
  if os.path.isdir(spec):
    return Coder.from_saved_model(spec)
  if spec in config_names():
    return untrained_coder(spec)
  raise ValueError(f"unknown model {spec!r}: not a zoo model ({', '.join(_zoo_models()) or 'none'}"
                   f"), a SavedModel folder, or a config name (see `tfc-swin models`)")


def learned_codec_points(spec: str) -> tuple[str, list[tuple[str, Coder]]]:
  """(family name, [(quality label, coder), ...]) for the evaluation runner."""
  if spec in _zoo_models():
    return spec, [(f"q{q}", zoo.load(spec, q)) for q in zoo.qualities(spec)]
  coder = load_coder(spec)
  return os.path.basename(os.path.normpath(spec)), [("0", coder)]
