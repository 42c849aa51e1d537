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
