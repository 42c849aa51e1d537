"""experiments/recipes/*.sh: every stage calls a training binary with flags it defines, in the
order and with the starting points docs/aict.md and docs/zoo.md describe (the scripts run with a
stand-in Python that records each call; nothing trains)."""
import os
import stat
import subprocess

import pytest
from absl import flags

from tfc_swin.training import config
from tfc_swin.training.video import VideoTrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "experiments", "recipes")
CONFIGS = {"experiments/train.py": config.TrainConfig,
           "experiments/train_video.py": VideoTrainConfig}


def run_recipe(tmp_path, script, *args, **env):
  """The calls ``script`` makes, each as (binary, {flag: value}), parsed by the binary's flags."""
  log = tmp_path / "calls"
  fake = tmp_path / "python"
  fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" "--" >> {log}\n')
  fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
  subprocess.run(["bash", os.path.join(RECIPES, script), *args], cwd=ROOT, check=True,
                 env={**os.environ, "PYTHON": str(fake), **env})
  calls = []
  for call in log.read_text().split("\n--\n")[:-1]:
    binary, *argv = call.split("\n")
    values = flags.FlagValues()
    required = config.define_flags(values, CONFIGS[binary], mark_required=False)
    config.define_device_flags(values)
    values(["prog", *argv])  # unknown flags or bad values raise here
    assert all(values[name].present for name in required), (binary, argv)
    calls.append((binary, {name: values[name].value for name in values
                           if values[name].present}))
  return calls


def test_aict_recipe_trains_then_forks_and_can_start_from_an_export(tmp_path):
  calls = run_recipe(tmp_path, "aict_cpu.sh", "aict-cpu", "R")
  assert [(c["lmbda"], c["run_dir"], c["steps"], c["init_from"]) for _, c in calls] == [
      (0.001, "R/aict-0.001", 5824, "zoo/swint-hyperprior-cpu/4/q2"),
      (0.003, "R/aict-0.003", 1500, "R/aict-0.001"),
      (0.0003, "R/aict-0.0003", 1500, "R/aict-0.001")]
  assert all(c["model"] == "aict-cpu" and c["xla_elementwise"] for _, c in calls)
  (tmp_path / "export").mkdir()
  forks = run_recipe(tmp_path / "export", "aict_cpu.sh", "ict-cpu", "R",
                     INIT_001="zoo/ict-cpu/1/q1")
  assert [(c["run_dir"], c["init_from"]) for _, c in forks] == [
      ("R/ict-0.003", "zoo/ict-cpu/1/q1"), ("R/ict-0.0003", "zoo/ict-cpu/1/q1")]


@pytest.mark.parametrize("model,warm_residual", [("swint-ssf-res-cpu", True),
                                                 ("conv-ssf-cpu", False)])
def test_video_recipe_forks_with_other_iframe_qualities(tmp_path, model, warm_residual):
  calls = run_recipe(tmp_path, "video_cpu.sh", model, "R", "v")
  assert {binary for binary, _ in calls} == {"experiments/train_video.py"}
  first, *forks = [c for _, c in calls]
  assert (first["lmbda"], first["steps"], first["flow_loss_steps"]) == (0.001, 1500, 500)
  assert ("init_residual" in first) == warm_residual and first["freeze_iframe"]
  assert [(c["lmbda"], c["init_from"], c["init_iframe"]) for c in forks] == [
      (0.003, "R/v-0.001", "zoo/swint-hyperprior-cpu/4/q1"),
      (0.0003, "R/v-0.001", "zoo/swint-hyperprior-cpu/4/q3")]
