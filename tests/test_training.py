"""Training: data pipeline and its memory bound, TrainConfig flags, resume after SIGKILL,
--init_from, tf.distribute on CPU, TFDS."""
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from PIL import Image

from tfc_swin.codecs import build_codec
from tfc_swin import configs
from tfc_swin.configs import get_config
from tfc_swin.image_io import list_images
from tfc_swin.profiling.complexity import peak_rss_growth
from tfc_swin.training import (TrainConfig, Trainer, config, data, init_from, run_dir,
                               warm_start)
from tfc_swin.training import trainer as trainer_lib
from tfc_swin.training.history import run_history, speed_curve, summarize, validation_curve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = [sys.executable, os.path.join(ROOT, "experiments", "train.py")]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, make_image):
  folder = tmp_path_factory.mktemp("train")
  for i, shape in enumerate([(80, 96), (100, 70), (40, 50)]):  # the last is below the patch
    Image.fromarray(make_image(*shape, seed=i)).save(folder / f"im{i}.png")
  Image.fromarray(make_image(70, 70, seed=9)).save(folder / "im3.jpg")
  return str(folder)


def train_args(data_dir, run_dir, model="conv-hyperprior-tiny", steps=4, *extra):
  return TRAIN + [f"--model={model}", "--lmbda=0.01", f"--data={data_dir}",
                  f"--run_dir={run_dir}", "--patch_size=64", "--batch_size=2",
                  f"--steps={steps}", "--log_every=1", "--checkpoint_every=2", *extra]


@pytest.fixture(scope="module")
def hyperprior_run(data_dir, tmp_path_factory):
  """A conv-hyperprior-tiny run of the binary, 4 steps, validated at steps 2 and 4: (its folder,
  its log). test_validation_on_fixed_crops checks it; test_init_from_hyperprior_run starts from
  it (one training process for both, which only read the run; conftest.TEST_GROUPS keeps them
  on one xdist worker)."""
  run = tmp_path_factory.mktemp("runs") / "hp"
  log = subprocess.run(train_args(data_dir, run, "conv-hyperprior-tiny", 4,
                                  f"--eval_data={data_dir}", "--eval_every=2",
                                  "--eval_images=2", "--eval_size=64"),
                       env=ENV, capture_output=True, text=True, check=True).stderr
  return run, log


def test_dataset_crops_and_small_images(data_dir):
  assert len(list_images(data_dir)) == 4
  batch = next(iter(data.image_dataset(data_dir, 64, 3)))
  assert batch.shape == (3, 64, 64, 3) and batch.dtype == tf.float32
  assert data.random_crop(tf.zeros([10, 30, 3], tf.uint8), 64).shape == (64, 64, 3)
  with pytest.raises(ValueError, match="no images"):
    list_images(os.path.join(data_dir, "nothing*.png"))


def _next_batches(iterator, count: int) -> None:
  for _ in range(count):
    next(iterator)


def _flat_images(folder, count: int, side: int) -> str:
  folder.mkdir()
  for i in range(count):  # flat PNGs: fast to write and to read
    Image.new("RGB", (side, side), (4 * i, 100, 200)).save(folder / f"{i:02d}.png")
  return str(folder)


@pytest.mark.slow
def test_pipeline_memory_is_bounded(tmp_path):
  # 60 images of 1024x1024: 189 MB decoded, which a pipeline that caches images would keep
  # (the one before the fix grew by about 3 MB per image). The streaming pipeline holds two
  # images and some crops at a time: memory_bound, plus TensorFlow's own runtime.
  side, count, batch = 1024, 60, 4
  warm = data.image_dataset(_flat_images(tmp_path / "warm", 2, side), 64, batch, seed=0)
  _next_batches(iter(warm), 10)  # TF's runtime, thread pools, tracing
  folder = _flat_images(tmp_path / "big", count, side)

  def every_image_twice():
    iterator = iter(data.image_dataset(folder, 64, batch, seed=0))
    _next_batches(iterator, 2 * count * data.CROPS_PER_IMAGE // batch)

  _, growth, method = peak_rss_growth(every_image_twice)
  if method != "VmHWM":
    pytest.skip("needs a resettable peak RSS (Linux /proc/self/clear_refs)")
  bound = data.memory_bound(64, batch, side * side, count)
  assert bound < 30e6  # two 3 MB images in flight (4 copies each) and the crop buffers
  assert growth < bound + 24e6 < count * side * side * 3 / 2, (growth, bound)


@pytest.mark.slow
def test_resume_after_sigkill(data_dir, tmp_path):
  run = tmp_path / "run"
  proc = subprocess.Popen(train_args(data_dir, run, "conv-hyperprior-tiny", 100000),
                          env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and not (run_dir.latest_checkpoint(str(run)) and
                                        run_dir.checkpoint_step(
                                            run_dir.latest_checkpoint(str(run))) >= 4):
    time.sleep(0.5)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  saved = run_dir.checkpoint_step(run_dir.latest_checkpoint(str(run)))
  assert saved >= 4
  out = subprocess.run(train_args(data_dir, run, "conv-hyperprior-tiny", saved + 2), env=ENV,
                       capture_output=True, text=True, check=True).stderr
  assert "resumed from" in out and f"at step {saved}" in out
  assert f"step {saved + 2}/{saved + 2}" in out
  first, second = run_dir.read_progress(str(run))["segments"]  # one per process, wall time each
  assert first["start_step"] == 0 and 0 < first["end_step"] <= saved
  assert (second["start_step"], second["end_step"]) == (saved, saved + 2)
  assert second["seconds"] > 0 and second["device"] == "CPU"
  assert (second["lmbda"], second["learning_rate"]) == (0.01, 1e-4)  # schedule per segment
  assert [s["start_step"] for s in run_history(str(run))[0]["schedule"]] == [0, saved]
  other_lambda = TrainConfig(model="conv-hyperprior-tiny", lmbda=0.02, data=data_dir,
                             run_dir=str(run), patch_size=64, batch_size=2)
  with pytest.raises(ValueError, match="trained with lmbda=0.01"):
    Trainer(other_lambda).restore_or_initialize()


def test_transform_options_change_the_codec_and_stay_fixed_for_the_run(data_dir, tmp_path):
  base = get_config("swint-hyperprior-tiny")
  assert configs.with_transform_options(base, "") is base
  changed = configs.with_transform_options(base, "fixed_windows=true, window=2")
  assert (changed.transform.fixed_windows, changed.transform.window) == (True, 2)
  assert changed.name == "swint-hyperprior-tiny[fixed_windows=true, window=2]"
  for bad, message in [("nope=1", "scalar fields"), ("analysis=3", "scalar fields"),
                       ("window", "NAME=VALUE"), ("fixed_windows=maybe", "true or false")]:
    with pytest.raises(ValueError, match=message):
      configs.with_transform_options(base, bad)
  run = tmp_path / "run"
  cfg = TrainConfig(model="swint-hyperprior-tiny", lmbda=0.01, data=data_dir, run_dir=str(run),
                    patch_size=64, batch_size=2, steps=0, transform_options="fixed_windows=1")
  Trainer(cfg).train(log=lambda _: None)
  assert run_dir.restore_codec(str(run)).config.transform.fixed_windows  # export builds it so
  with pytest.raises(ValueError, match="trained with transform_options='fixed_windows=1', not ''"):
    Trainer(dataclasses.replace(cfg, transform_options="")).restore_or_initialize()
  stored = run_dir.read_config(str(run))  # A run started before the field existed: default.
  run_dir.write_config(str(run), {k: v for k, v in stored.items() if k != "transform_options"})
  Trainer(dataclasses.replace(cfg, transform_options="")).restore_or_initialize()


@pytest.mark.slow
def test_validation_on_fixed_crops(data_dir, hyperprior_run, tmp_path):
  crops = data.center_crops(data_dir, 64, 3)  # includes the 40x50 image, upscaled
  assert crops.shape == (3, 64, 64, 3) and float(tf.reduce_max(crops)) <= 255
  run, out = hyperprior_run  # The binary with --eval_data, --eval_every=2, --eval_images=2
  assert "validation at step 2: psnr" in out and "(2 crops of 64)" in out
  validations = run_dir.read_progress(str(run))["validation"]
  assert [v["step"] for v in validations] == [2, 4] and validations[0]["bpp"] > 0
  stages = run_history(str(run))
  curve = validation_curve([{"steps": 10, "validation": [{"step": 5, "psnr": 1, "bpp": 1}]}]
                           + stages)  # steps count across --init_from stages
  assert [p["step"] for p in curve] == [5, 12, 14]
  hours = [p["hours"] for p in curve]  # The first stage has no tracked time.
  assert hours[0] == 0 and 0 < hours[1] < hours[2] == pytest.approx(stages[0]["seconds"] / 3600)
  assert speed_curve(stages)[0]["steps_per_s"] == pytest.approx(4 / stages[0]["seconds"])
  for axis in ("step", "hours"):
    subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "plot_training.py"),
                    f"--runs={run}", f"--output={tmp_path / axis}.png", f"--x_axis={axis}",
                    f"--table={tmp_path / axis}.md"],
                   env=ENV, capture_output=True, text=True, check=True)
    assert (tmp_path / f"{axis}.png").stat().st_size > 0
  rows = (tmp_path / "step.md").read_text().splitlines()[2:]  # One per validation point.
  assert [r.split(" | ")[2] for r in rows] == ["2", "4"] and rows[0].startswith("| hp |")


@pytest.mark.slow
def test_init_from_hyperprior_run(data_dir, hyperprior_run, tmp_path):
  hp, _ = hyperprior_run  # A conv-hyperprior-tiny run "hp" of 4 steps
  out = subprocess.run(train_args(data_dir, tmp_path / "charm", "conv-charm-tiny", 2,
                                  f"--init_from={hp}", f"--eval_data={data_dir}",
                                  "--eval_every=2", "--eval_images=1", "--eval_size=64"),
                       env=ENV, capture_output=True, text=True, check=True).stderr
  assert "initialized g_a, g_s, h_a, h_s, hyperprior from" in out  # ChARM starts fresh
  # A fork is validated where it starts, then every --eval_every steps.
  validations = run_dir.read_progress(str(tmp_path / "charm"))["validation"]
  assert [v["step"] for v in validations] == [0, 2] and "validation at step 0: psnr" in out
  stages = run_history(str(tmp_path / "charm"))  # what the zoo manifest records
  assert [(s["run"], s["model"], s["steps"], s["tracked_steps"]) for s in stages] == [
      ("hp", "conv-hyperprior-tiny", 4, 4), ("charm", "conv-charm-tiny", 2, 2)]
  assert summarize(stages)["total_steps"] == 6 and summarize(stages)["untracked_steps"] == 0
  # Resumed without --init_from, the run still knows where it started.
  subprocess.run(train_args(data_dir, tmp_path / "charm", "conv-charm-tiny", 3), env=ENV,
                 check=True, capture_output=True)
  stages = run_history(str(tmp_path / "charm"))
  assert [(s["run"], s["steps"]) for s in stages] == [("hp", 4), ("charm", 3)]


@pytest.mark.slow
def test_initial_step_continues_a_run(data_dir, hyperprior_run, tmp_path):
  hp, _ = hyperprior_run  # 4 steps; continued as if its folder were lost (only its weights)
  cfg = TrainConfig(model="conv-hyperprior-tiny", lmbda=0.01, data=data_dir,
                    run_dir=str(tmp_path / "more"), steps=6, patch_size=64, batch_size=2,
                    init_from=str(hp), initial_step=4, lr_schedule="cosine", eval_data=data_dir,
                    eval_every=2, eval_images=1, eval_size=64, log_every=1)
  for bad in ({"init_from": ""}, {"steps": 4}):
    with pytest.raises(ValueError, match="--initial_step 4 continues a run"):
      Trainer(dataclasses.replace(cfg, **bad))
  trainer, logs = Trainer(cfg), []
  trainer.train(log=logs.append)
  assert "; continuing at step 4 of 6" in logs[0] and trainer.step == 6
  schedule = run_dir.read_progress(cfg.run_dir)["segments"][0]
  assert (schedule["start_step"], schedule["end_step"]) == (4, 6)
  stages = run_history(cfg.run_dir)  # the continuation counts its own 2 steps and validations
  assert [(s["run"], s["steps"]) for s in stages] == [("hp", 4), ("more", 2)]
  assert [v["step"] for v in stages[1]["validation"]] == [0, 2]
  assert [p["step"] for p in validation_curve(stages)] == [2, 4, 4, 6]


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(data_dir, tmp_path):
  out = subprocess.run(train_args(data_dir, tmp_path / "m", "conv-hyperprior-tiny", 3,
                                  "--strategy=mirrored", "--logical_cpus=2"),
                       env=ENV, capture_output=True, text=True, check=True).stderr
  assert "step 3/3" in out and "replica divergence 0" in out


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
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


@pytest.mark.slow
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
  assert trainer.step == 0  # ... nor the step counter
  assert all(not np.any(v.numpy()) for v in trainer.optimizer.variables[1:])  # ... nor Adam
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) is None


def _fake_run(folder, codec) -> str:
  """A run folder holding ``codec`` at step 2 (what the trainer writes)."""
  run_dir.write_config(str(folder), {"model": codec.config.name, "lmbda": 0.01})
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=codec),
                                       run_dir.checkpoint_dir(str(folder)), 1)
  return manager.save(checkpoint_number=2)


def _same(a: tf.Module, b: tf.Module) -> bool:
  return all(np.array_equal(x.numpy(), y.numpy())
             for x, y in zip(a.trainable_variables, b.trainable_variables))


@pytest.mark.slow
def test_init_from_forks_whole_models_and_keeps_transforms_across_priors(tmp_path):
  tf.keras.utils.set_random_seed(1)
  source = build_codec("conv-charm-tiny")
  checkpoint = _fake_run(tmp_path / "charm", source)
  tf.keras.utils.set_random_seed(2)
  fork = build_codec("conv-charm-tiny")  # another lambda, same model (B.1): everything
  assert init_from(fork, str(tmp_path / "charm")) == (checkpoint, tuple(fork.weight_view()))
  assert all(_same(source.weight_view()[k], fork.weight_view()[k]) for k in fork.weight_view())
  hyperprior = build_codec("conv-hyperprior-tiny")  # another prior: transforms + hyper prior
  _, parts = init_from(hyperprior, str(tmp_path / "charm" / "checkpoints"))
  assert parts == ("g_a", "g_s", "h_a", "h_s", "hyperprior")
  assert _same(source.g_s, hyperprior.g_s) and _same(source.hyperprior, hyperprior.hyperprior)
  tf.keras.utils.set_random_seed(3)
  charm = build_codec("conv-charm-tiny")  # Hyperprior -> ChARM: the ChARM networks start fresh
  fresh = [v.numpy() for v in charm.prior.trainable_variables]
  init_from(charm, _fake_run(tmp_path / "hp", hyperprior))
  assert _same(hyperprior.h_a, charm.h_a)
  assert all(np.array_equal(a, v.numpy())
             for a, v in zip(fresh, charm.prior.trainable_variables))
  swin = types.SimpleNamespace(config=get_config("swint-charm-tiny"))
  with pytest.raises(ValueError, match="other transforms"):
    warm_start.shared_parts(swin, source)
  with pytest.raises(ValueError, match="not a training run folder"):
    init_from(charm, str(tmp_path))


def test_init_from_into_fixed_windows_keeps_every_weight():
  """Fixed windows change the computation, not the weights: a fork into them takes all."""
  source = build_codec("swint-hyperprior-tiny")
  config = get_config("swint-hyperprior-tiny")
  fixed = dataclasses.replace(config, transform=dataclasses.replace(config.transform,
                                                                     fixed_windows=True))
  target = types.SimpleNamespace(config=fixed, weight_view=source.weight_view)
  assert warm_start.shared_parts(target, source) == tuple(source.weight_view())


def test_train_flags_are_the_train_config_fields():
  values = flags.FlagValues()
  config.define_flags(values)
  values(["train.py", "--model=m", "--lmbda=0.5", "--data=d", "--run_dir=r", "--steps=7",
          "--lr_drop_step=5", "--lr_schedule=cosine", "--image_summary_every=3"])
  assert config.from_flags(values) == TrainConfig(
      model="m", lmbda=0.5, data="d", run_dir="r", steps=7, lr_drop_step=5,
      lr_schedule="cosine", image_summary_every=3)
  assert {f.name for f in dataclasses.fields(TrainConfig)} <= set(values)
  with pytest.raises(flags.IllegalFlagValueError):
    values["strategy"].parse("nope")


def test_tfds_clic_builds_its_pipeline_up_to_the_download(monkeypatch, make_image):
  tfds = pytest.importorskip("tensorflow_datasets")
  calls = []

  def download_and_prepare(builder, *args, **kwargs):
    calls.append(builder.name)  # where the CLIC download would start
    assert builder.info.features["image"].shape == (None, None, 3)

  def as_dataset(builder, split, shuffle_files, decoders):
    assert (split, shuffle_files) == ("train", True)
    assert isinstance(decoders["image"], tfds.decode.SkipDecoding)  # decoded by image_io
    png = tf.io.encode_png(make_image(70, 90))
    return tf.data.Dataset.from_tensors({"image": png}).repeat(3)

  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download_and_prepare)
  monkeypatch.setattr(tfds.core.DatasetBuilder, "as_dataset", as_dataset)
  batch = next(iter(data.image_dataset("tfds:clic", 64, 2)))
  assert calls == ["clic"] and batch.shape == (2, 64, 64, 3)


def test_bfloat16_matmul_steps_train_in_float32_weights(tmp_path):
  """--bfloat16_matmuls: the step's Swin Linear maps multiply in bfloat16 (issue 16); weights
  stay float32 and the first step's loss is close to the float32 step's."""
  batches = tf.data.Dataset.from_tensors(
      tf.random.stateless_uniform([2, 64, 64, 3], (1, 2), 0, 255)).repeat()
  losses, weights = {}, {}
  for bf16 in (False, True):
    tf.keras.utils.set_random_seed(0)
    config = TrainConfig(model="swint-hyperprior-tiny", lmbda=0.01, data="-",
                         run_dir=str(tmp_path / str(bf16)), steps=2, patch_size=64,
                         batch_size=2, bfloat16_matmuls=bf16, xla_elementwise=bf16)
    trainer = Trainer(config, dataset=batches)
    step = trainer._train_step_fn()  # pylint: disable=protected-access
    iterator = iter(trainer.strategy.experimental_distribute_dataset(batches))
    losses[bf16] = float(step(iterator)[0]["loss"])
    weights[bf16] = trainer.codec.trainable_variables
  assert np.isfinite(losses[True]) and losses[True] == pytest.approx(losses[False], rel=0.05)
  assert all(v.dtype == tf.float32 for v in weights[True])


def test_recompute_gelu_needs_the_fused_bfloat16_step(tmp_path):
  cfg = TrainConfig(model="swint-hyperprior-cpu", lmbda=0.01, data="unused",
                    run_dir=str(tmp_path / "run"), recompute_gelu=True, xla_elementwise=True)
  with pytest.raises(ValueError, match="--recompute_gelu needs --xla_elementwise and "
                                       "--bfloat16_matmuls"):
    Trainer(cfg)
