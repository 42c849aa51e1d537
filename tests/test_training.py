"""Training binary: data, resume after SIGKILL, init_from, tf.distribute on CPU, export/zoo."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from PIL import Image

from tfc_swin.training.data import center_crops, image_dataset, list_images, random_crop
from tfc_swin.training.history import run_history, summarize, validation_curve
from tfc_swin.training import TrainConfig, Trainer
from tfc_swin.training import trainer as trainer_lib
from tfc_swin.training.trainer import read_progress
from tests.conftest import smooth_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = [sys.executable, os.path.join(ROOT, "experiments", "train.py")]
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp("train")
  for i, shape in enumerate([(80, 96), (100, 70), (40, 50)]):  # the last is below the patch
    Image.fromarray(smooth_image(*shape, seed=i)).save(folder / f"im{i}.png")
  Image.fromarray(smooth_image(70, 70, seed=9)).save(folder / "im3.jpg")
  return str(folder)


def train_args(data_dir, run_dir, model="conv-hyperprior-tiny", steps=4, *extra):
  return TRAIN + [f"--model={model}", "--lmbda=0.01", f"--data={data_dir}",
                  f"--run_dir={run_dir}", "--patch_size=64", "--batch_size=2",
                  f"--steps={steps}", "--log_every=1", "--checkpoint_every=2", *extra]


def test_dataset_crops_and_small_images(data_dir):
  assert len(list_images(data_dir)) == 4
  batch = next(iter(image_dataset(data_dir, 64, 3)))
  assert batch.shape == (3, 64, 64, 3) and batch.dtype == tf.float32
  assert random_crop(tf.zeros([10, 30, 3], tf.uint8), 64).shape == (64, 64, 3)
  with pytest.raises(ValueError, match="no training images"):
    list_images(os.path.join(data_dir, "nothing*.png"))


def test_resume_after_sigkill(data_dir, tmp_path):
  run = tmp_path / "run"
  proc = subprocess.Popen(train_args(data_dir, run, "conv-hyperprior-tiny", 100000),
                          env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  ckpt_dir = run / "checkpoints"
  deadline = time.time() + 240
  while time.time() < deadline and not (ckpt_dir.exists() and tf.train.latest_checkpoint(
      str(ckpt_dir)) and int(tf.train.latest_checkpoint(str(ckpt_dir)).rsplit("-")[-1]) >= 4):
    time.sleep(0.5)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  saved = int(tf.train.latest_checkpoint(str(ckpt_dir)).rsplit("-")[-1])
  assert saved >= 4
  out = subprocess.run(train_args(data_dir, run, "conv-hyperprior-tiny", saved + 2), env=ENV,
                       capture_output=True, text=True, check=True).stderr
  assert f"resumed from" in out and f"at step {saved}" in out
  assert f"step {saved + 2}/{saved + 2}" in out
  first, second = read_progress(str(run))["segments"]  # one per process, wall time each
  assert first["start_step"] == 0 and 0 < first["end_step"] <= saved
  assert (second["start_step"], second["end_step"]) == (saved, saved + 2)
  assert second["seconds"] > 0 and second["device"] == "CPU"
  assert (second["lmbda"], second["learning_rate"]) == (0.01, 1e-4)  # schedule per segment
  assert [s["start_step"] for s in run_history(str(run))[0]["schedule"]] == [0, saved]
  other_lambda = TrainConfig(model="conv-hyperprior-tiny", lmbda=0.02, data=data_dir,
                             run_dir=str(run), patch_size=64, batch_size=2)
  with pytest.raises(ValueError, match="trained with lmbda=0.01"):
    Trainer(other_lambda).restore_or_initialize()


def test_validation_on_fixed_crops(data_dir, tmp_path):
  crops = center_crops(data_dir, 64, 3)  # includes the 40x50 image, upscaled
  assert crops.shape == (3, 64, 64, 3) and float(tf.reduce_max(crops)) <= 255
  out = subprocess.run(train_args(data_dir, tmp_path / "v", "conv-hyperprior-tiny", 4,
                                  f"--eval_data={data_dir}", "--eval_every=2",
                                  "--eval_images=2", "--eval_size=64"),
                       env=ENV, capture_output=True, text=True, check=True).stderr
  assert "validation at step 2: psnr" in out and "(2 crops of 64)" in out
  validations = read_progress(str(tmp_path / "v"))["validation"]
  assert [v["step"] for v in validations] == [2, 4] and validations[0]["bpp"] > 0
  stages = run_history(str(tmp_path / "v"))
  curve = validation_curve([{"steps": 10, "validation": [{"step": 5, "psnr": 1, "bpp": 1}]}]
                           + stages)  # steps count across --init_from stages
  assert [p["step"] for p in curve] == [5, 12, 14]
  out = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "plot_training.py"),
                        f"--runs={tmp_path / 'v'}", f"--output={tmp_path / 'curves.png'}"],
                       env=ENV, capture_output=True, text=True, check=True)
  assert (tmp_path / "curves.png").stat().st_size > 0


def test_init_from_hyperprior_run(data_dir, tmp_path):
  subprocess.run(train_args(data_dir, tmp_path / "hp", "swint-hyperprior-tiny", 2), env=ENV,
                 check=True, capture_output=True)
  out = subprocess.run(train_args(data_dir, tmp_path / "charm", "swint-charm-tiny", 2,
                                  f"--init_from={tmp_path / 'hp'}"),
                       env=ENV, capture_output=True, text=True, check=True).stderr
  assert "initialized transforms from" in out
  stages = run_history(str(tmp_path / "charm"))  # what the zoo manifest records
  assert [(s["run"], s["model"], s["steps"], s["tracked_steps"]) for s in stages] == [
      ("hp", "swint-hyperprior-tiny", 2, 2), ("charm", "swint-charm-tiny", 2, 2)]
  assert summarize(stages)["total_steps"] == 4 and summarize(stages)["untracked_steps"] == 0


def test_mirrored_strategy_on_two_logical_cpus(data_dir, tmp_path):
  out = subprocess.run(train_args(data_dir, tmp_path / "m", "conv-hyperprior-tiny", 3,
                                  "--strategy=mirrored", "--logical_cpus=2"),
                       env=ENV, capture_output=True, text=True, check=True).stderr
  assert "step 3/3" in out and "replica divergence 0" in out


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_multi_worker_strategy_two_local_workers(data_dir, tmp_path):
  workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
  procs = []
  for i in range(2):
    env = {**ENV, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                           "task": {"type": "worker", "index": i}})}
    procs.append(subprocess.Popen(
        train_args(data_dir, tmp_path / "mw", "conv-hyperprior-tiny", 3,
                   "--strategy=multi_worker"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  outs = [p.communicate(timeout=600)[0] for p in procs]
  assert all(p.returncode == 0 for p in procs), outs
  prints = [line.split("weights fingerprint ")[1].split(";")[0]
            for out in outs for line in out.splitlines() if "weights fingerprint" in line]
  assert len(prints) == 2 and prints[0] == prints[1]
  assert not (tmp_path / "mw" / "worker1-tmp").exists()


def test_nonfinite_steps_are_skipped_then_divergence_stops(tmp_path, monkeypatch):
  monkeypatch.setattr(trainer_lib, "MAX_NONFINITE_STEPS", 3)
  nan_batches = tf.data.Dataset.from_tensors(tf.fill([2, 64, 64, 3], float("nan"))).repeat()
  config = TrainConfig(model="conv-hyperprior-tiny", lmbda=0.01, data="-", run_dir=str(tmp_path),
                       steps=10, patch_size=64, batch_size=2, checkpoint_every=1, log_every=1)
  trainer = Trainer(config, dataset=nan_batches)
  before = trainer.codec.fingerprint()
  with pytest.raises(FloatingPointError, match="3 non-finite steps in a row"):
    trainer.train(log=lambda _: None)
  assert trainer.codec.fingerprint() == before  # the NaN gradients never reached the weights
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) is None
