"""Video models in the zoo: export of video runs (experiments/export_video.py --runs),
manifests of kind "video", loading by name (tfc_swin.api.load_video_coder, ``tfc-swin video
--model NAME --quality Q``), files that name their zoo model, and image entry points that
refuse video models (and the other way round).

The zoo is a temporary folder ($TFC_SWIN_ZOO) holding "tiny-video" (two untrained tiny
Conv-SSF runs of different seeds as qualities 1 and 2) and "tiny-image" (an untrained tiny
image codec). Exports of the seed-0 weights (quality 2, then version 2; test_video_cli, in the
same xdist unit, exports them too) share one restored codec (helpers.share_restored_video_codecs).
"""
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfc_swin import api, cli, zoo
from tfc_swin.codecs import build_codec, build_video_codec
from tfc_swin.codecs.video import restore_video_codec
from tfc_swin.coder import ModelLoadError
from tfc_swin.isolation import close_shared
from tfc_swin.training import run_dir
from tfc_swin.video import bitstream as vb
from tfc_swin.video.frames import FolderFrames, write_png_frames
from helpers import load_experiment, share_restored_video_codecs, smooth_image

pytestmark = pytest.mark.slow  # SavedModel exports

MODEL = "conv-ssf-tiny"


def make_run(folder, lmbda: float, seed: int) -> str:
  """A video training run whose only checkpoint holds fresh weights of ``seed``; returns the
  weights' fingerprint."""
  tf.keras.utils.set_random_seed(seed)
  codec = build_video_codec(MODEL)
  run_dir.write_config(str(folder), {"model": MODEL, "lmbda": lmbda, "data": "clips",
                                     "frames": 2, "patch_size": 64, "batch_size": 1,
                                     "learning_rate": 1e-4})
  tf.train.CheckpointManager(tf.train.Checkpoint(model=codec), run_dir.checkpoint_dir(
      str(folder)), 1).save(checkpoint_number=10 + seed)
  return codec.fingerprint()


@pytest.fixture(scope="module")
def export_video(restored_video_codecs):
  return share_restored_video_codecs(load_experiment("export_video"), restored_video_codecs)


@pytest.fixture(scope="module")
def video_zoo(tmp_path_factory, export_video):
  root = tmp_path_factory.mktemp("zoo")
  runs = tmp_path_factory.mktemp("runs")
  old = os.environ.get(zoo.ZOO_ENV)
  os.environ[zoo.ZOO_ENV] = str(root)
  fingerprints = {lmbda: make_run(runs / f"run-{lmbda}", lmbda, seed)
                  for lmbda, seed in ((0.01, 0), (0.03, 1))}
  paths = [str(runs / "run-0.01"), str(runs / "run-0.03")]  # quality order: by lambda
  assert export_video.export_to_zoo(paths, "1", "tiny-video") == "tiny-video"
  tf.keras.utils.set_random_seed(0)
  zoo.add_to_zoo(build_codec("conv-hyperprior-tiny"), "tiny-image", "1", 1,
                 {"lmbda": 0.01, "steps": 0, "training_data": "none"})
  yield root, runs, fingerprints
  close_shared()  # The CLI's worker process read this zoo.
  if old is None:
    del os.environ[zoo.ZOO_ENV]
  else:
    os.environ[zoo.ZOO_ENV] = old


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("clip"))
  write_png_frames([np.roll(smooth_image(64, 64), 3 * t, axis=1) for t in range(3)], folder)
  return folder


def run(capsys, *argv):
  code = cli.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return code, out, err


def one_line_error(err: str, message: str) -> bool:
  lines = [line for line in err.splitlines() if not line.startswith("decoded frame")]
  return len(lines) == 1 and lines[0].startswith("tfc-swin: error: ") and message in lines[0]


def test_runs_become_qualities_of_a_video_manifest(video_zoo):
  root, _, fingerprints = video_zoo
  manifest = zoo.manifest("tiny-video")
  assert manifest["kind"] == "video" == zoo.kind("tiny-video")
  assert manifest["config"]["name"] == MODEL and manifest["family"].startswith("SSF[")
  assert zoo.kind("tiny-image") == "image" and zoo.qualities("tiny-video") == [1, 2]
  assert zoo.available_models("video") == ["tiny-video"]
  records = zoo.version_records("tiny-video")[1]
  assert [records[q]["lmbda"] for q in ("1", "2")] == [0.03, 0.01]  # q1 = the lowest rate
  assert [records[q]["fingerprint"] for q in ("1", "2")] == [fingerprints[0.03],
                                                             fingerprints[0.01]]
  record = records["1"]
  assert (record["steps"], record["checkpoint"], record["frames"]) == (11, "ckpt-11", 2)
  assert record["training_data"] == "clips" and record["history"][0]["lmbda"] == 0.03
  assert "saved_model.pb" in record["files"] and (root / "tiny-video" / "1" / "q2").is_dir()
  coder = api.load_video_coder("tiny-video")  # the highest quality by default
  assert coder.name == "tiny-video/1/q2" and coder.model_id.fingerprint == fingerprints[0.01]


def test_evaluate_video_takes_zoo_models_and_run_folders(video_zoo):
  """experiments/evaluate_video.py --models: a zoo video model is one curve of all its
  qualities; a run folder is its latest checkpoint; a checkpoint needs a config name."""
  _, runs, fingerprints = video_zoo
  evaluate_video = load_experiment("evaluate_video")
  spec = evaluate_video.parse_model_spec
  assert [c.name for c in evaluate_video.load_coders(spec("tiny-video"))] == [
      "tiny-video/1/q1", "tiny-video/1/q2"]
  [coder] = evaluate_video.load_coders(spec(str(runs / "run-0.01")))
  assert coder.model_id.fingerprint == fingerprints[0.01]
  assert spec(str(runs / "run-0.01")).label == "run-0.01"
  with pytest.raises(ValueError, match="a checkpoint goes with a video config"):
    evaluate_video.load_coders(spec("tiny-video@ckpt-1"))


def test_cli_codes_with_a_zoo_name_and_decodes_from_the_header(video_zoo, clip, tmp_path,
                                                               capsys):
  out = tmp_path / "clip.tfsv"
  code, stdout, _ = run(capsys, "video", "compress", clip, out, "--model", "tiny-video",
                        "--quality", 1, "--gop", 2)
  assert code == 0 and "(tiny-video/1/q1)" in stdout
  assert vb.read_header(str(out)).model == "tiny-video/1/q1"
  coder = api.load_video_coder("tiny-video", quality=1, version="1")
  coder.compress(FolderFrames(clip), str(tmp_path / "memory.tfsv"), 2)
  assert out.read_bytes() == (tmp_path / "memory.tfsv").read_bytes()
  code, stdout, err = run(capsys, "video", "decompress", out, tmp_path / "png")  # no --model
  assert code == 0 and "3 frames of 64x64 (tiny-video/1/q1)" in stdout, err
  expected = list(coder.decompress(str(out)))
  for frame, path in zip(expected, sorted((tmp_path / "png").iterdir()), strict=True):
    np.testing.assert_array_equal(np.asarray(Image.open(path)), frame)
  code, _, err = run(capsys, "video", "decompress", out, tmp_path / "q2", "--model",
                     "tiny-video", "--quality", 2)
  assert code == 1 and one_line_error(err, "video was made by model tiny-video/1/q1")
  code, _, err = run(capsys, "video", "compress", clip, tmp_path / "x.tfsv", "--model",
                     "tiny-video", "--quality", 7)
  assert code == 1 and one_line_error(err, "tiny-video version 1 has no quality 7")


def test_models_zoo_lists_the_kind(video_zoo, capsys):
  code, out, _ = run(capsys, "models", "--zoo")
  rows = out.splitlines()
  assert code == 0 and len(rows) == 3
  assert [r.split()[0] for r in rows] == ["tiny-image", "tiny-video", "tiny-video"]
  assert rows[0].endswith("kind=image") and rows[2].endswith("kind=video")
  code, out, _ = run(capsys, "models", "--zoo", "--markdown")
  table = out.splitlines()
  assert table[0].endswith("| Kodak MS-SSIM | kind |") and table[3].endswith("| video |")


def test_image_entry_points_refuse_video_models(video_zoo, clip, tmp_path, capsys):
  with pytest.raises(zoo.ZooError, match="^zoo model tiny-video is a video model, not an "
                     "image model .use `tfc-swin video`"):
    zoo.load("tiny-video")
  code, _, err = run(capsys, "compress", os.path.join(clip, "f001.png"), tmp_path / "a.tfsw",
                     "--model", "tiny-video")
  assert code == 1 and one_line_error(err, "tiny-video is a video model, not an image model")
  with pytest.raises(zoo.ZooError, match="holds video models; an image codec cannot"):
    zoo.add_to_zoo(build_codec("conv-hyperprior-tiny"), "tiny-video", "1", 3, {})
  assert zoo.qualities("tiny-video") == [1, 2]


def test_video_entry_points_refuse_image_models(video_zoo, clip, tmp_path, capsys):
  code, _, err = run(capsys, "video", "compress", clip, tmp_path / "a.tfsv", "--model",
                     "tiny-image")
  assert code == 1 and one_line_error(err, "tiny-image is an image model, not a video model")
  fake = vb.VideoHeader("tiny-image/1/q1", MODEL, "0123456789abcdef", 64, 64, 25, 12, 1)
  vb.write_video(str(tmp_path / "f.tfsv"), fake, [vb.Frame("I", (b"ab",), 7)])
  code, _, err = run(capsys, "video", "decompress", tmp_path / "f.tfsv", tmp_path / "out")
  assert code == 1 and one_line_error(err, "tiny-image is an image model")  # in the worker
  with pytest.raises(ModelLoadError, match="a quality or version selects a zoo model"):
    api.load_video_coder(MODEL, quality=1)


def test_video_default_serves_calls_without_a_model(video_zoo, clip, tmp_path, capsys):
  """zoo.json's video_default: load_video(None), load_video_coder(None) and `tfc-swin video
  compress` without --model use it; without one they fail with one line."""
  root, _, _ = video_zoo
  (root / "zoo.json").unlink(missing_ok=True)
  with pytest.raises(zoo.ZooError, match="has no default video model"):
    zoo.load_video()
  code, _, err = run(capsys, "video", "compress", clip, tmp_path / "a.tfsv")
  assert code == 1 and one_line_error(err, "pass --model (the zoo has no default video model)")
  image = zoo.set_default("tiny-image", "1", 1)
  video = zoo.set_default("tiny-video", "latest")  # the middle quality of [1, 2]
  assert video == {"model": "tiny-video", "version": "1", "quality": 1}
  assert zoo.default() == image and zoo.default("video") == video  # each kept the other
  assert zoo.load_video().name == "tiny-video/1/q1"
  assert api.load_video_coder(quality=2).name == "tiny-video/1/q2"
  code, stdout, _ = run(capsys, "video", "compress", clip, tmp_path / "a.tfsv", "--gop", 2)
  assert code == 0 and "(tiny-video/1/q1)" in stdout
  assert vb.read_header(str(tmp_path / "a.tfsv")).model == "tiny-video/1/q1"
  code, stdout, _ = run(capsys, "models", "--zoo")
  assert [r.split()[:2] for r in stdout.splitlines()][:2] == [["tiny-image", "(default)"],
                                                             ["tiny-video", "(default)"]]
  with pytest.raises(zoo.ZooError, match="tiny-video v1 is the zoo video default"):
    zoo.remove_version("tiny-video", "1")
  with pytest.raises(zoo.ZooError, match="tiny-image v1 is the zoo default"):
    zoo.remove_version("tiny-image", "1")


def test_a_new_version_replaces_the_old_one(video_zoo, export_video, clip, tmp_path, capsys):
  """The binary's flags: --runs, --version, --default (the video default moves to the new
  version before) --remove_versions (after the export)."""
  root, runs, fingerprints = video_zoo
  old_file = tmp_path / "v1.tfsv"
  assert run(capsys, "video", "compress", clip, old_file, "--model", "tiny-video")[0] == 0
  image_default = zoo.default(missing_ok=True)
  export_video.FLAGS(["export_video", f"--runs={runs / 'run-0.01'}", "--version=2",
                      "--name=tiny-video", "--default", "--remove_versions=1"])
  try:
    export_video.main([])
  finally:
    export_video.FLAGS.unparse_flags()
  out = capsys.readouterr().out
  assert "default video model: tiny-video v2 q1" in out and "removed tiny-video v1" in out
  assert zoo.default("video") == {"model": "tiny-video", "version": "2", "quality": 1}
  assert zoo.default(missing_ok=True) == image_default
  assert sorted(zoo.manifest("tiny-video")["versions"]) == ["2"]
  assert not (root / "tiny-video" / "1").exists() and zoo.qualities("tiny-video") == [1]
  assert zoo.version_records("tiny-video")[1]["1"]["fingerprint"] == fingerprints[0.01]
  code, _, err = run(capsys, "video", "decompress", old_file, tmp_path / "out")
  assert code == 1 and one_line_error(err, "tiny-video has no version 1")


def test_reexport_of_a_video_model_codes_the_same_frames(video_zoo, clip, tmp_path, capsys):
  """experiments/reexport.py on a video model: each quality rebuilt from its SavedModel
  (restore_video_codec), no Kodak measurement, the video default moved, the old version gone;
  the new version codes the same frames."""
  old, records = zoo.version_records("tiny-video")
  new = str(int(old) + 1)
  zoo.set_default("tiny-video", old, 1)
  image_default = zoo.default(missing_ok=True)
  api.load_video_coder("tiny-video", version=old).compress(FolderFrames(clip),
                                                           str(tmp_path / "old.tfsv"), 2)
  reexport = load_experiment("reexport")
  reexport.FLAGS(["reexport", "--name=tiny-video", f"--from_version={old}", f"--version={new}",
                  f"--kodak={tmp_path}", "--remove_old"])
  try:
    reexport.main([])
  finally:
    reexport.FLAGS.unparse_flags()
  out = capsys.readouterr().out
  assert "tiny-video is a video model: no Kodak measurement" in out
  assert sorted(zoo.manifest("tiny-video")["versions"]) == [new]
  assert zoo.default("video") == {"model": "tiny-video", "version": new, "quality": 1}
  assert zoo.default(missing_ok=True) == image_default
  for q, record in zoo.version_records("tiny-video")[1].items():
    assert record["fingerprint"] == records[q]["fingerprint"] and "kodak" not in record
    assert record["lmbda"] == records[q]["lmbda"] and record["history"] == records[q]["history"]
    assert record["reexported_from"]["version"] == old
  coder = api.load_video_coder()
  assert coder.name == f"tiny-video/{new}/q1"
  coder.compress(FolderFrames(clip), str(tmp_path / "new.tfsv"), 2)
  assert ([f.strings for f in vb.read_frames(str(tmp_path / "new.tfsv"))]
          == [f.strings for f in vb.read_frames(str(tmp_path / "old.tfsv"))])
  with pytest.raises(ValueError, match="an image model .conv-hyperprior-tiny., not a video"):
    restore_video_codec(str(zoo.model_folder("tiny-image", 1)))
