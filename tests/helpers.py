"""Helpers that test modules import (``from helpers import ...``: pytest puts this folder on
``sys.path``, so a bare ``pytest`` from any directory finds them). Fixtures live in
``conftest.py``."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
  """A deterministic smooth-ish RGB test image (no external data needed)."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width]
  base = np.stack([128 + 100 * np.sin(x / 7 + c) * np.cos(y / 9 - c) for c in range(3)], -1)
  return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def blurred_noise_image(height: int, width: int, seed: int = 0, grid: tuple[int, int] = (4, 5),
                        noise: float = 2.0) -> np.ndarray:
  """A photo-like RGB image: a random ``grid`` of colours upsampled bicubically, plus noise."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, (*grid, 3)).astype(np.uint8)
  image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float64)
  return np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)


def load_experiment(name: str) -> ModuleType:
  """Imports ``experiments/<name>.py`` as a module. absl flags that an experiment imported
  earlier in this process defined under the same names are dropped first, so that several
  experiment binaries can be tested in one pytest process."""
  from absl import flags  # pylint: disable=import-outside-toplevel
  path = REPO / "experiments" / f"{name}.py"
  for flag in re.findall(r"flags\.DEFINE_\w+\(\s*\"(\w+)\"", path.read_text()):
    if flag in flags.FLAGS:
      delattr(flags.FLAGS, flag)
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # dataclasses resolve annotations through it
  spec.loader.exec_module(module)
  return module


def share_restored_video_codecs(export_video: ModuleType, codecs: dict) -> ModuleType:
  """``export_video`` (experiments/export_video.py, :func:`load_experiment`) whose
  ``restore_run_codec`` restores every checkpoint as before (a new codec, its weights read),
  then gives the codec that ``codecs`` (a session's, the ``restored_video_codecs`` fixture)
  holds for the same config and weights fingerprint, keeping the first of each.

  An export of weights exported before in the session then reuses that codec's coding tables
  and traced coding functions (an export of a new codec traces them: tens of seconds, most of
  its time); the files it writes are the same, since the tables derive from the weights alone.
  """
  restore = export_video.restore_run_codec

  def restore_run_codec(run: str, checkpoint: str):
    codec = restore(run, checkpoint)
    return codecs.setdefault((codec.config.name, codec.fingerprint()), codec)

  export_video.restore_run_codec = restore_run_codec
  return export_video


class FakeCoder:
  """A coder without TensorFlow for tests of :mod:`tfc_swin.isolation` (load it in a worker
  with ``loader="helpers:fake_coder"``): files are ``b"ok"``, ``b"hang"``, ``b"crash"``,
  ``b"memory"`` (grows by ``memory_mb``), ``b"corrupt"`` or ``b"bug"``."""

  def __init__(self, memory_mb: int = 0):
    self.model_id = SimpleNamespace(name="fake/1/q1", config="fake",
                                    fingerprint="0123456789abcdef")
    self.description, self.timings, self.memory_mb = "fake coder", {}, memory_mb

  def compress_array(self, rgb, color_mode="RGB", alpha=None, max_pixels=None,
                     tile_side=None) -> bytes:
    self.timings = {"encode_model": 0.0}
    return b"ok" + bytes(rgb.shape[:2]) + (alpha.tobytes() if alpha is not None else b"")

  def decompress_array(self, data, max_pixels=None):
    import os  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel
    from tfc_swin import bitstream  # pylint: disable=import-outside-toplevel
    if data == b"hang":
      time.sleep(3600)
    elif data == b"crash":
      os.abort()
    elif data == b"memory":
      self.hog = np.ones(self.memory_mb << 20, np.uint8)
      time.sleep(3600)
    elif data == b"corrupt":
      raise bitstream.CorruptFileError("file is corrupted (fake)")
    elif data == b"bug":
      raise KeyError("fake bug")
    header = bitstream.Header("fake/1/q1", "fake", "0123456789abcdef", 2, 3, "RGBA")
    self.timings = {"decode_model": 0.0}
    return np.full((2, 3, 3), 7, np.uint8), header, np.full((2, 3), 9, np.uint8)


def fake_coder(memory_mb: int = 0, fail: bool = False) -> FakeCoder:
  """The loader of :class:`FakeCoder`; ``fail`` raises the error of an unknown model."""
  if fail:
    raise ValueError("unknown model 'fake'")
  return FakeCoder(memory_mb)


class _WithoutSliceChecksums:
  """A codec's coding functions without the ``slice_checksums`` output, as a SavedModel
  exported before format version 2 has them."""

  def __init__(self, model):
    self.model, self.num_strings = model, model.num_strings

  def compress(self, image):
    return {k: v for k, v in self.model.compress(image).items() if k != "slice_checksums"}

  def decompress(self, strings, shape):
    return {k: v for k, v in self.model.decompress(strings, shape).items()
            if k != "slice_checksums"}


def old_export_coder(coder):
  """``coder`` as if its model had been exported before per-slice checksums (format v1)."""
  from tfc_swin.coder import Coder  # pylint: disable=import-outside-toplevel
  return Coder(_WithoutSliceChecksums(coder.model), coder.model_id, config=coder.config)


