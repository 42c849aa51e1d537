"""Shared fixtures. Helper functions are in ``helpers.py``. Tests marked ``slow`` (setup.cfg)
are skipped by ``pytest -m "not slow"``."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from helpers import smooth_image  # noqa: E402


@pytest.fixture(scope="session")
def make_image():
  """:func:`helpers.smooth_image` (height, width, seed=0) for tests that need several images."""
  return smooth_image


@pytest.fixture
def image():
  return smooth_image(40, 56)
