"""Shared test helpers. Tests take images from the ``image`` / ``make_image`` fixtures (no
imports from this file, so that a bare ``pytest`` finds everything). Tests marked ``slow``
(setup.cfg) are skipped by ``pytest -m "not slow"``."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
  """A deterministic smooth-ish RGB test image (no external data needed)."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width]
  base = np.stack([128 + 100 * np.sin(x / 7 + c) * np.cos(y / 9 - c) for c in range(3)], -1)
  return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def make_image():
  """:func:`smooth_image` (height, width, seed=0) for tests that need several images."""
  return smooth_image


@pytest.fixture
def image():
  return smooth_image(40, 56)


def load_experiment(name: str):
  """Imports ``experiments/<name>.py`` as a module. absl flags that an experiment imported
  earlier in this process defined under the same names are dropped first, so that several
  experiment binaries can be tested in one pytest process."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  import re  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  from pathlib import Path  # pylint: disable=import-outside-toplevel
  from absl import flags  # pylint: disable=import-outside-toplevel
  path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py"
  for flag in re.findall(r"flags\.DEFINE_\w+\(\s*\"(\w+)\"", path.read_text()):
    if flag in flags.FLAGS:
      delattr(flags.FLAGS, flag)
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # dataclasses resolve annotations through it
  spec.loader.exec_module(module)
  return module
