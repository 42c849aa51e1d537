"""Video training (Zhu et al. 2022 App. B.1): clip data from frame folders and Vimeo-90k
layouts, the trainer (flow loss, reversed order, frozen I-frame codec from an image model,
resume) and experiments/train_video.py.

Training steps run eagerly (``tf.config.run_functions_eagerly``): tracing the tiny SwinT-SSF's
training step costs over a minute on a busy 2-core machine, an eager step about a second.
"""
import dataclasses
import os
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from PIL import Image

from tfc_swin import image_io
from tfc_swin.codecs import build_codec
from tfc_swin.training import config, data, run_dir
from tfc_swin.training import video as video_training
from tfc_swin.training.video import VideoTrainConfig, VideoTrainer
from helpers import load_experiment, smooth_image

MODEL = "swint-ssf-tiny"


def write_sequence(folder, num_frames, height=80, width=96, seed=0, names="f{}.png"):
  """Frames ``base + 10 t`` (t = 0, 1, ...): a frame's offset to the first tells a crop's
  frame index and whether all frames were cut at the same place."""
  os.makedirs(folder, exist_ok=True)
  base = smooth_image(height, width, seed).astype(np.int64) // 2
  for t in range(num_frames):
    Image.fromarray((base + 10 * t).astype(np.uint8)).save(
        os.path.join(folder, names.format(t + 1)))
  return str(folder)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("video")
  write_sequence(root / "a", 3, seed=1)
  write_sequence(root / "group" / "b", 4, seed=2)
  write_sequence(root / "short", 1)
  return str(root)


@pytest.fixture
def eager():
  tf.config.run_functions_eagerly(True)
  yield
  tf.config.run_functions_eagerly(False)


def test_sequences_of_frame_folders_and_vimeo_septuplets(data_dir, tmp_path):
  found = video_training.find_sequences(data_dir, 2)
  assert [os.path.relpath(s.folder, data_dir) for s in found] == ["a", os.path.join("group", "b")]
  assert found[1].names == ("f1.png", "f2.png", "f3.png", "f4.png")
  assert len(video_training.find_sequences(data_dir, 1)) == 3
  vimeo = tmp_path / "vimeo_septuplet"
  for name in ("00001/0001", "00001/0002", "00002/0001"):
    write_sequence(vimeo / "sequences" / name, 7, 8, 8, names="im{}.png")
  (vimeo / "sep_trainlist.txt").write_text("00001/0002\n00002/0001\n")
  found = video_training.find_sequences(str(vimeo), 3)
  assert [s.folder[-10:] for s in found] == ["00001/0002", "00002/0001"]
  assert found[0].names == tuple(f"im{i}.png" for i in range(1, 8))
  assert found[0].names is found[1].names  # one copy of equal name lists
  (vimeo / "sep_trainlist.txt").unlink()
  assert len(video_training.find_sequences(str(vimeo), 7)) == 3
  with pytest.raises(ValueError, match="no folder with at least 8 frames"):
    video_training.find_sequences(str(vimeo), 8)
  with pytest.raises(ValueError, match="no such folder"):
    video_training.find_sequences(str(tmp_path / "nothing"))


def test_clips_are_consecutive_frames_cut_alike(data_dir):
  batches = iter(video_training.clip_dataset(data_dir, 3, 64, 2, seed=0))
  for _ in range(3):
    clips = next(batches).numpy()
    assert clips.shape == (2, 3, 64, 64, 3) and clips.dtype == np.float32
    steps = clips[:, 1:] - clips[:, :-1]
    np.testing.assert_array_equal(steps, 10)  # consecutive frames, the same window in each


def test_clips_are_read_when_their_turn_comes(tmp_path, monkeypatch):
  for i in range(24):
    write_sequence(tmp_path / f"s{i:02d}", 3, 16, 16, seed=i)
  reads = []
  read_rgb = image_io.read_rgb
  monkeypatch.setattr(image_io, "read_rgb", lambda path: reads.append(path) or read_rgb(path))
  batches = iter(video_training.clip_dataset(str(tmp_path), 3, 16, 1, seed=0))
  next(batches)
  time.sleep(1)  # the pipeline fills its buffers, then waits
  # The batch taken, the prefetched ones, the one being batched and the clips being decoded
  # (of 72 frames); no more however the threads are scheduled.
  in_flight = 1 + data.PREFETCH_BATCHES + 1 + data.DECODE_PARALLELISM
  assert 3 <= len(reads) <= in_flight * 3
  davis = video_training.clip_memory_bound(3, 256, 4, 854 * 480)
  assert 60e6 < davis < 65e6  # the figure in the docstring


def test_small_frames_are_upscaled_and_validation_clips(tmp_path):
  folder = write_sequence(tmp_path / "small", 2, 40, 50)
  clips = next(iter(video_training.clip_dataset(folder, 2, 64, 1, seed=0)))
  assert clips.shape == (1, 2, 64, 64, 3)
  centre = video_training.center_clips(str(tmp_path), 2, 64, 4)
  assert centre.shape == (1, 2, 64, 64, 3) and float(tf.reduce_max(centre)) <= 255


def test_video_flags_are_the_config_fields():
  values = flags.FlagValues()
  required = config.define_flags(values, VideoTrainConfig, mark_required=False)
  assert required == ["model", "lmbda", "data", "run_dir"]
  values(["train_video.py", "--model=m", "--lmbda=0.5", "--data=d", "--run_dir=r",
          "--frames=2", "--freeze_iframe", "--noreverse_order", "--flow_loss_steps=7"])
  assert config.from_flags(values, VideoTrainConfig) == VideoTrainConfig(
      model="m", lmbda=0.5, data="d", run_dir="r", frames=2, freeze_iframe=True,
      reverse_order=False, flow_loss_steps=7)
  assert values["batch_size"].default == 4 and "Vimeo-90k" in values["data"].help
  assert {f.name for f in dataclasses.fields(VideoTrainConfig)} <= set(values)


def image_checkpoint(folder) -> tuple[str, str]:
  """An image training checkpoint of the video config's I-frame config, and its weights."""
  tf.keras.utils.set_random_seed(7)
  image = build_codec("swint-hyperprior-tiny")
  return tf.train.Checkpoint(model=image).write(str(folder / "ckpt-1")), image.fingerprint()


def train_config(data_dir, run, **changes) -> VideoTrainConfig:
  return VideoTrainConfig(**{
      "model": MODEL, "lmbda": 0.01, "data": data_dir, "run_dir": str(run), "frames": 2,
      "patch_size": 64, "batch_size": 1, "steps": 2, "log_every": 1, "checkpoint_every": 1,
      "image_summary_every": 2, **changes})


@pytest.mark.slow
def test_frozen_iframe_flow_loss_and_reversed_clips(data_dir, tmp_path, eager):
  checkpoint, iframe_weights = image_checkpoint(tmp_path)
  cfg = train_config(data_dir, tmp_path / "run", init_iframe=checkpoint, freeze_iframe=True,
                     flow_loss_steps=1, steps=1, eval_data=data_dir, eval_every=1,
                     eval_images=1, eval_size=64, image_summary_every=1)
  trainer = VideoTrainer(cfg)
  assert trainer.restore_or_initialize() == f"initialized the I-frame codec from {checkpoint}"
  assert trainer.codec.iframe.fingerprint() == iframe_weights
  assert trainer.items_per_batch == 2
  clip = next(iter(trainer.dataset))

  def forward():
    tf.keras.utils.set_random_seed(3)  # the same quantization noise for both passes
    return trainer._forward(clip)  # pylint: disable=protected-access

  with_flow, metrics = forward()
  assert with_flow.shape == (2,)  # the clip, then the clip reversed
  trainer.optimizer.iterations.assign(1)
  without_flow, _ = forward()
  np.testing.assert_allclose(with_flow - without_flow, metrics["flow_loss"], rtol=1e-4)
  trainer.optimizer.iterations.assign(0)
  logs = []
  trainer.train(log=logs.append)
  assert any("step 1/1" in line and "flow_loss" in line and "steps/s" in line for line in logs)
  assert any("validation at step 1: psnr" in line and "(1 clips of 64)" in line
             for line in logs)
  assert trainer.codec.iframe.fingerprint() == iframe_weights  # frozen
  assert run_dir.checkpoint_step(run_dir.latest_checkpoint(cfg.run_dir)) == 1
  assert os.listdir(os.path.join(cfg.run_dir, "summaries"))
  trainer.config = dataclasses.replace(cfg, freeze_iframe=False)
  with pytest.raises(ValueError, match="trained with freeze_iframe=True"):
    trainer.restore_or_initialize()


@pytest.fixture(scope="module")
def train_video():
  # Flags of other experiments loaded in this process may share names with the binary's.
  for name in [f.name for f in dataclasses.fields(VideoTrainConfig)] + ["threads",
                                                                       "logical_cpus"]:
    if name in flags.FLAGS:
      delattr(flags.FLAGS, name)
  return load_experiment("train_video")


def run_binary(module, *args) -> None:
  flags.FLAGS(["train_video.py", *args])
  try:
    module.main([])
  finally:
    flags.FLAGS.unparse_flags()


@pytest.mark.slow
def test_binary_trains_then_resumes_its_run(train_video, data_dir, tmp_path, eager, capsys):
  run = str(tmp_path / "run")
  args = [f"--model={MODEL}", "--lmbda=0.01", f"--data={data_dir}", f"--run_dir={run}",
          "--frames=2", "--patch_size=64", "--batch_size=1", "--log_every=1",
          "--checkpoint_every=1"]
  run_binary(train_video, *args, "--steps=1")
  run_binary(train_video, *args, "--steps=2")
  err = capsys.readouterr().err
  assert "started from scratch" in err and "resumed from" in err and "at step 1" in err
  assert "step 2/2 loss" in err
  first, second = run_dir.read_progress(run)["segments"]
  assert (first["end_step"], second["start_step"], second["end_step"]) == (1, 1, 2)
  assert run_dir.read_config(run)["frames"] == 2
