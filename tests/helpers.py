"""Helpers that test modules import (``from helpers import ...``: pytest puts this folder on
``sys.path``, so a bare ``pytest`` from any directory finds them). Fixtures live in
``conftest.py``."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

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
