"""Shared fixtures, and how ``make test`` spreads the tests over its two pytest-xdist workers.
Helper functions are in ``helpers.py``. Tests marked ``slow`` (setup.cfg) are skipped by
``pytest -m "not slow"``.

With ``--dist loadgroup`` the xdist scheduler below hands out units of tests: by default a
test module (its module fixtures, such as traced codecs, SavedModel exports and training runs,
are built on one worker, as with ``--dist loadfile``), except that

* modules in :data:`SHARED_GROUPS` that build the same models form one unit, so that per-process
  caches (:func:`tfc_swin.api.load_coder`, the :func:`paper_codec` and
  :func:`restored_video_codecs` fixtures) build them once;
* the tests of the modules in :data:`SPLIT_MODULES` (no module fixture worth building twice)
  are units of their own and go to whichever worker is free, which evens out the end of the
  run; :data:`TEST_GROUPS` keeps the few of them that share a fixture together;
* the quick modules of :data:`LAST_MODULES` are collected last, so that their tests fill the end
  of the run (units of several tests are handed out first, largest first, then single tests in
  collection order).

The units are derived from the test ids here because pytest-xdist 3.8 cannot see
``xdist_group`` marks with pytest >= 9.2 (pytest-dev/pytest-xdist#1386); ids that carry an
``@group`` suffix (older pytest) still get their group. Without ``--dist loadgroup``
(``pytest``, ``make test-fast``) nothing changes but the order of whole modules.
"""
import functools
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Command-line processes the tests start keep their graph cache (tfc_swin/fastload.py) here,
# not in the user's ~/.cache.
os.environ.setdefault("TFC_SWIN_GRAPH_CACHE", tempfile.mkdtemp(prefix="tfc_swin-graphs-"))

import pytest  # noqa: E402

from helpers import smooth_image  # noqa: E402

#: module -> unit, for modules that load the same models.
SHARED_GROUPS = {
    # load_coder("conv-hyperprior-tiny" / "conv-charm-tiny") (the CLI loads through it too),
    # and the paper-size AICT that test_codecs and test_aict_codec both count (paper_codec).
    "test_aict_codec": "coders", "test_cli": "coders", "test_codecs": "coders",
    "test_isolation": "coders", "test_robustness": "coders",
    # Exports of the same tiny video weights (the restored_video_codecs fixture).
    "test_video_cli": "video", "test_video_zoo": "video",
}
#: Modules whose tests are handed out one by one (no module fixture worth building twice).
SPLIT_MODULES = {"test_aict_layers", "test_eval_anchors", "test_eval_bdrate", "test_eval_metrics",
                 "test_eval_runner", "test_golden_bitstreams", "test_layers", "test_packaging",
                 "test_shipped_zoo", "test_structure", "test_training", "test_video_blocks"}
#: (module, test function) -> unit, for tests of split modules that share a module fixture.
TEST_GROUPS = {
    ("test_training", "test_validation_on_fixed_crops"): "training-hyperprior-run",
    ("test_training", "test_init_from_hyperprior_run"): "training-hyperprior-run",
    ("test_training", "test_initial_step_continues_a_run"): "training-hyperprior-run",
}
#: Many quick tests: collected last, to fill the end of the run on both workers.
LAST_MODULES = ("test_eval_anchors", "test_eval_bdrate", "test_eval_metrics", "test_eval_runner",
                "test_layers", "test_aict_layers", "test_video_blocks")


def _module(nodeid: str) -> str:
  return os.path.splitext(os.path.basename(nodeid.split("::")[0]))[0]


def xdist_unit(nodeid: str) -> str:
  """The unit of tests that one worker runs, for a test id (see the module docstring)."""
  module = _module(nodeid)
  if module in SHARED_GROUPS:
    return SHARED_GROUPS[module]
  if module not in SPLIT_MODULES:
    return nodeid.split("::")[0]
  function = nodeid.split("::")[-1].split("[")[0]
  return TEST_GROUPS.get((module, function), nodeid)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # Before xdist's own scheduler.
def pytest_xdist_make_scheduler(config, log):
  if config.getvalue("dist") != "loadgroup":
    return None
  from xdist.scheduler import LoadGroupScheduling  # pylint: disable=import-outside-toplevel

  class UnitScheduling(LoadGroupScheduling):
    def _split_scope(self, nodeid: str) -> str:
      scope = super()._split_scope(nodeid)
      return scope if scope != nodeid else xdist_unit(nodeid)

  return UnitScheduling(config, log)


def pytest_collection_modifyitems(items):
  last = {name: rank for rank, name in enumerate(LAST_MODULES, 1)}
  items.sort(key=lambda item: last.get(_module(item.nodeid), 0))  # Stable: modules stay whole.


@pytest.fixture(scope="session")
def make_image():
  """:func:`helpers.smooth_image` (height, width, seed=0) for tests that need several images."""
  return smooth_image


@pytest.fixture
def image():
  return smooth_image(40, 56)


@pytest.fixture(scope="session")
def paper_codec():
  """``build_codec`` for paper-size models (random weights), keeping the last one built: the
  model that test_aict_codec counts is the first that test_codecs counts (one worker)."""
  from tfc_swin.codecs import build_codec  # pylint: disable=import-outside-toplevel
  return functools.lru_cache(maxsize=1)(build_codec)


@pytest.fixture(scope="session")
def restored_video_codecs():
  """The video codecs that experiments/export_video.py restored, by config and weights
  (:func:`helpers.share_restored_video_codecs`): the tiny Conv-SSF of seed 0 that
  test_video_cli exports and test_video_zoo exports twice (one xdist unit) builds its coding
  tables and traces its coding functions once, which is most of the time of an export."""
  return {}
