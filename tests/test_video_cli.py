"""``tfc-swin video compress | decompress | info``, video SavedModel export
(experiments/export_video.py) and ``tfc_swin.api.load_video_coder``.

One untrained tiny Conv-SSF (building its coding tables and tracing its coding functions is the
slow part; the conv transforms trace several times faster than SwinT's) serves the coding tests
through a patched loader; frames are generated, files go to tmp_path. The export binary keeps
the codec it restores (helpers.share_restored_video_codecs): test_video_zoo (same xdist unit)
exports the same weights again without tracing them again.
"""
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfc_swin import api, cli
from tfc_swin.coder import Coder, ModelLoadError
from tfc_swin.training import run_dir
from tfc_swin.video import bitstream as vb
from tfc_swin.video.frames import FolderFrames, write_png_frames, write_yuv420
from helpers import REPO, load_experiment, share_restored_video_codecs, smooth_image

MODEL = "conv-ssf-tiny"


def frames(count=3, height=64, width=64):
  return [np.roll(smooth_image(height, width), 3 * t, axis=1) for t in range(count)]


def run(*argv):
  return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def coder():
  return api.untrained_video_coder(MODEL)


@pytest.fixture
def patched(coder, monkeypatch):
  """The CLI's model loader gives the shared coder for its config name."""
  load = api.load_video_coder
  monkeypatch.setattr(api, "load_video_coder",
                      lambda spec: coder if spec == MODEL else load(spec))
  return coder


@pytest.fixture
def clip(tmp_path):
  folder = str(tmp_path / "clip")
  write_png_frames(frames(), folder)
  return folder


def fake_file(path, model="untrained/conv-ssf-tiny/seed0", config=MODEL, count=2):
  """A valid .tfsv file with made-up strings (no model work)."""
  header = vb.VideoHeader(model, config, "0123456789abcdef", 64, 64, 25, 12, count)
  records = [vb.Frame("I" if i == 0 else "P", (b"ab", b"cd"), 7) for i in range(count)]
  vb.write_video(str(path), header, records)
  return str(path)


@pytest.mark.slow
def test_compress_decompress_info(patched, clip, tmp_path, capsys):
  out = tmp_path / "clip.tfsv"
  assert run("video", "compress", clip, out, "--model", MODEL, "--gop", 2, "--rate", "25") == 0
  captured = capsys.readouterr()
  assert "3 frames of 64x64" in captured.out and "untrained/conv-ssf-tiny/seed0" in captured.out
  assert [line.split(":")[0] for line in captured.err.splitlines()] == [
      "coded frame 1/3", "coded frame 2/3", "coded frame 3/3"]
  header = vb.read_header(str(out))
  assert (header.gop_size, header.frame_rate, header.frame_count) == (2, 25, 3)
  expected = [e.reconstruction for e in patched.encode_frames(FolderFrames(clip), 2)]

  # A decompress with other model options than the one before starts a new worker process,
  # which builds the untrained model: those without --model come first and share one worker
  # (tfc_swin.isolation.shared_coder; the refused one stops before the worker).
  assert run("video", "decompress", out, tmp_path / "png") == 0  # model from the header
  assert "decoded frame 3/3: I" in capsys.readouterr().err
  for frame, path in zip(expected, sorted((tmp_path / "png").iterdir()), strict=True):
    np.testing.assert_array_equal(np.asarray(Image.open(path)), frame)

  assert run("video", "info", out) == 0
  info = capsys.readouterr().out
  assert "frames:         3 of 64x64 at 25 fps, GOP 2 (header: 3)" in info
  assert "I frames:       2," in info and "P frames:       1," in info
  assert run("video", "decompress", out, tmp_path / "png") == 1  # exists: no --force
  assert "f001.png: exists" in capsys.readouterr().err
  assert run("video", "decompress", out, tmp_path / "png", "--force") == 0

  assert run("video", "decompress", out, tmp_path / "out.yuv", "--model", MODEL) == 0
  assert (tmp_path / "out.yuv").read_bytes() == _yuv_bytes(expected, tmp_path)


def _yuv_bytes(rgb_frames, tmp_path) -> bytes:
  write_yuv420(rgb_frames, str(tmp_path / "expected.yuv"))
  return (tmp_path / "expected.yuv").read_bytes()


@pytest.mark.slow
def test_raw_yuv_input_and_inputs_never_overwritten(patched, clip, tmp_path, capsys):
  raw = str(tmp_path / "in.yuv")
  write_yuv420(frames(2, 64, 64), raw)
  out = tmp_path / "raw.tfsv"
  assert run("video", "compress", raw, out, "--model", MODEL, "--width", 64,
             "--height", 64) == 0
  assert vb.read_header(str(out)).frame_count == 2
  named_yuv = tmp_path / "coded.yuv"  # a .tfsv file, named so that it is a raw output
  os.replace(out, named_yuv)
  before = named_yuv.read_bytes()
  assert run("video", "decompress", named_yuv, named_yuv, "--force") == 1
  assert "refusing to overwrite the input file" in capsys.readouterr().err
  assert named_yuv.read_bytes() == before
  first = os.path.join(clip, "f001.png")
  assert run("video", "compress", clip, first, "--model", MODEL, "--force") == 1
  assert "refusing to overwrite the input file" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["compress", "{tmp}/missing", "{tmp}/o.tfsv", "--model", MODEL], "no such file"),
    (["compress", "{clip}", "{tmp}/o.tfsv"], "pass --model"),
    (["compress", "{clip}", "{tmp}/o.tfsv", "--model", "nope"], "unknown video model 'nope'"),
    (["compress", "{clip}", "{tmp}/o.tfsv", "--model", MODEL, "--width", "64"],
     "for raw .yuv input only"),
    (["compress", "{tmp}/raw.yuv", "{tmp}/o.tfsv", "--model", MODEL], "needs the frame width"),
    (["compress", "{tmp}/raw.yuv", "{tmp}/o.tfsv", "--model", MODEL, "--width", "7",
      "--height", "5"], "not a multiple of the 7x5 yuv420p frame size"),
    (["decompress", "{tmp}/image.tfsw", "{tmp}/out"], "image file, not a video"),
    (["decompress", "{tmp}/garbage.tfsv", "{tmp}/out"], "not a tfc_swin"),
    (["decompress", "{tmp}/other.tfsv", "{tmp}/out"], "made by model 'zoo/other/q1'"),
    (["decompress", "{tmp}/fake.tfsv", "{tmp}/fake.tfsv"], "exists and is not a folder"),
    (["decompress", "{tmp}/fake.tfsv", "{tmp}/out", "--max-pixels", "100"], "pixels"),
    (["info", "{tmp}/truncated.tfsv"], "file is truncated"),
])
def test_bad_input_gives_one_line_errors(argv, message, clip, tmp_path, capsys):
  (tmp_path / "raw.yuv").write_bytes(bytes(64 * 64 * 3 // 2 + 1))
  (tmp_path / "image.tfsw").write_bytes(b"TFSW\x01" + bytes(32))
  (tmp_path / "garbage.tfsv").write_bytes(b"hello world, not a video")
  fake_file(tmp_path / "other.tfsv", model="zoo/other/q1")
  data = open(fake_file(tmp_path / "fake.tfsv"), "rb").read()
  (tmp_path / "truncated.tfsv").write_bytes(data[:-9])
  argv = [a.format(tmp=tmp_path, clip=clip) for a in argv]
  assert run("video", *argv) == 1
  err = capsys.readouterr().err
  assert err.startswith("tfc-swin: error: ") and len(err.splitlines()) == 1
  assert message in err


def test_info_of_a_file(tmp_path, capsys):
  assert run("video", "info", fake_file(tmp_path / "a.tfsv", count=3)) == 0
  out = capsys.readouterr().out
  assert "model:          untrained/conv-ssf-tiny/seed0" in out
  assert "frames:         3 of 64x64 at 25 fps, GOP 12 (header: 3)" in out
  assert "I frames:       1, " in out and "P frames:       2, " in out


def test_video_model_specs(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(api, "untrained_video_coder", lambda config, seed: ("untrained", config))
  monkeypatch.setattr(api, "run_video_coder", lambda run: ("run", run))
  assert api.load_video_coder(MODEL) == ("untrained", MODEL)
  assert "WARNING: conv-ssf-tiny is a config name: an UNTRAINED model" in capsys.readouterr().err
  run_dir.write_config(str(tmp_path), {"model": MODEL, "lmbda": 0.01})
  assert api.load_video_coder(str(tmp_path)) == ("run", str(tmp_path))
  for spec in ("swint-hyperprior-tiny", str(tmp_path / "nothing")):
    with pytest.raises(ModelLoadError, match="unknown video model"):
      api.load_video_coder(spec)
  with pytest.raises(ModelLoadError, match="an image model"):
    api.load_video_coder(str(REPO / "zoo" / "swint-hyperprior-cpu" / "4" / "q2"))


@pytest.fixture(scope="module")
def export_video(restored_video_codecs):
  return share_restored_video_codecs(load_experiment("export_video"), restored_video_codecs)


@pytest.mark.slow
def test_export_writes_the_files_of_the_run(coder, export_video, tmp_path, capsys):
  """A run holding the shared coder's weights, exported by the binary's ``export``: the
  SavedModel (loaded through the CLI) writes byte-identical files to the in-memory codec."""
  folder = str(tmp_path / "run")
  run_dir.write_config(folder, {"model": MODEL, "lmbda": 0.01, "data": "clips", "frames": 2})
  tf.train.CheckpointManager(tf.train.Checkpoint(model=coder.model),
                             run_dir.checkpoint_dir(folder), 1).save(checkpoint_number=3)
  saved = str(tmp_path / "saved")
  assert export_video.export(folder, saved, name=coder.name) == coder.name
  write_png_frames(frames(2), str(tmp_path / "clip"))
  expected = str(tmp_path / "memory.tfsv")
  coder.compress(FolderFrames(str(tmp_path / "clip")), expected)
  assert run("video", "compress", tmp_path / "clip", tmp_path / "saved.tfsv", "--model",
             saved) == 0
  assert (tmp_path / "saved.tfsv").read_bytes() == open(expected, "rb").read()
  assert run("video", "decompress", tmp_path / "saved.tfsv", tmp_path / "out", "--model",
             saved) == 0
  with pytest.raises(ModelLoadError, match="a video model"):
    Coder.from_saved_model(saved)
  with pytest.raises(FileExistsError, match="exists"):
    export_video.export(folder, saved)
