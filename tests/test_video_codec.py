"""P-frame video codecs (Zhu et al. 2022 sec. 3.2): PFrameCodec, VideoCoder and
experiments/evaluate_video.py.

One untrained tiny SwinT-SSF serves the coding tests (building the range-coding tables is the
slow part); frames are generated, files go to tmp_path.
"""
import json
import os
import shutil
import weakref

import numpy as np
import pytest
import tensorflow as tf

from tfc_swin.bitstream import WrongModelError
from tfc_swin.codecs import ImageCodec, build_codec, build_video_codec
from tfc_swin.codecs.video import PFrameCodec, with_reversed_order
from tfc_swin.coder import ModelId
from tfc_swin.configs import get_config, get_video_config
from tfc_swin.video import bitstream as vb
from tfc_swin.video.coder import VideoCoder
from tfc_swin.video.frames import FolderFrames, write_png_frames
from helpers import load_experiment

HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def moving_frames(num_frames, height, width, seed=0):
  """Lazily generated uint8 RGB frames: smooth colours and a textured square, both moving."""
  rng = np.random.default_rng(seed)
  texture = rng.integers(0, 256, (8, 8, 3))
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  for t in range(num_frames):
    frame = np.stack([128 + 90 * np.sin((x + 2 * t) / 9 + c) * np.cos((y - t) / 11 - c)
                      for c in range(3)], -1)
    patch = frame[2 + t % 8:10 + t % 8, 3 + t % 12:11 + t % 12]
    patch[...] = texture[:patch.shape[0], :patch.shape[1]]
    yield np.clip(np.round(frame), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def codec():
  return build_video_codec("swint-ssf-tiny")


@pytest.fixture(scope="module")
def coder(codec):
  return VideoCoder.from_codec(codec, "test/swint-ssf-tiny")


@pytest.mark.parametrize("name", ["swint-ssf-tiny", "conv-ssf-tiny"])
def test_new_codecs_start_near_copying_the_reference(name):
  """Damped g_s outputs (codecs/video.py): a new codec's flow is a few pixels and its
  reconstruction stays near the reference, so the unrolled training clip starts sane."""
  tf.keras.utils.set_random_seed(0)
  fresh = build_video_codec(name)
  rng = np.random.default_rng(0)
  x, ref = (tf.constant(rng.uniform(0, 255, (1, 64, 64, 3)), tf.float32) for _ in range(2))
  out = fresh.predict_pframe(x, ref)
  assert float(tf.reduce_max(tf.abs(out["flow"][..., :2]))) < 16
  assert float(tf.reduce_max(tf.abs(out["x_hat"] - out["prediction"]))) < 64


@pytest.mark.slow
def test_paper_size_parameter_counts(capsys):
  """The paper gives no video parameter counts: print ours (parts shared across configs are
  built once)."""
  counts = {}

  def count(config):
    key = (config.transform, config.prior)
    if key not in counts:
      counts[key] = ImageCodec(config).count_parameters()
    return counts[key]

  rows = []
  for name in ("conv-ssf", "swint-ssf", "swint-ssf-res"):
    config = get_video_config(name)
    parts = {"iframe": count(get_config(config.iframe)), "flow": count(config.flow),
             "residual": count(config.residual)}
    rows.append((name, parts, sum(parts.values())))
  with capsys.disabled():
    for name, parts, total in rows:
      print(f"\n{name}: {total / 1e6:.2f}M parameters (" + ", ".join(
          f"{k} {v / 1e6:.2f}M" for k, v in parts.items()) + ")")
  totals = {name: total for name, _, total in rows}
  assert totals["conv-ssf"] < totals["swint-ssf-res"] < totals["swint-ssf"]
  conv = rows[0][1]
  assert conv["flow"] - conv["residual"] == 3 * 5 * 5 * 128  # 3 more input channels in g_a


@pytest.mark.slow
def test_forward_pass_shapes_and_gradients(codec):
  clip = tf.constant(np.stack(list(moving_frames(3, 64, 64)))[None], tf.float32)
  reversed_clip = with_reversed_order(clip)
  assert reversed_clip.shape == (2, 3, 64, 64, 3)
  np.testing.assert_array_equal(reversed_clip[1, 0], clip[0, 2])

  def gradients():
    with tf.GradientTape() as tape:
      out = codec(clip, training=True)
      loss = tf.reduce_mean(out["bpp"] + 1e-3 * out["mse"] + 1e-3 * out["flow_loss"])
    names = [v.ref() for v in codec.trainable_variables]
    return out, dict(zip(names, tape.gradient(loss, codec.trainable_variables)))

  def reached(grads, part):
    return any(grads[v.ref()] is not None and np.any(grads[v.ref()].numpy() != 0)
               for v in getattr(codec, part).trainable_variables)

  out, grads = gradients()
  for key in ("bits", "bpp", "mse", "flow_loss"):
    assert out[key].shape == (1, 3)
  assert out["x_hat"].shape == clip.shape
  assert np.all(out["flow_loss"][:, 0].numpy() == 0) and np.all(out["flow_loss"][:, 1:] > 0)
  assert all(reached(grads, part) for part in ("iframe", "flow", "residual"))
  assert len(codec.training_variables) == len(codec.trainable_variables)
  codec.freeze_iframe = True
  try:
    _, grads = gradients()
    assert reached(grads, "flow") and reached(grads, "residual")
    assert not reached(grads, "iframe")
    frozen = {v.ref() for v in codec.iframe.trainable_variables}
    assert not frozen & {v.ref() for v in codec.training_variables}
  finally:
    codec.freeze_iframe = False


@pytest.mark.slow
@pytest.mark.parametrize("height,width", [(37, 70), (1, 1), (65, 130)])
def test_pframe_encoder_and_decoder_agree(coder, codec, height, width):
  first, second = moving_frames(2, height, width)
  shape = tf.constant([height, width])
  iframe = codec.compress_iframe(first)
  decoded = codec.decompress_iframe(iframe["strings"], shape)
  np.testing.assert_array_equal(decoded["image"], iframe["image"])
  assert int(decoded["index_checksum"]) == int(iframe["index_checksum"])
  pframe = codec.compress_pframe(second, iframe["image"])
  assert pframe["strings"].shape == (codec.num_strings["P"],)
  decoded = codec.decompress_pframe(pframe["strings"], iframe["image"], shape)
  assert decoded["image"].shape == (height, width, 3)
  np.testing.assert_array_equal(decoded["image"], pframe["image"])
  assert int(decoded["index_checksum"]) == int(pframe["index_checksum"])


def test_round_trip_through_files(coder, tmp_path):
  """5 frames of 70x37, GOP 3 (I P P I P), from a PNG folder."""
  folder = str(tmp_path / "frames")
  write_png_frames(moving_frames(5, 37, 70), folder)
  source = FolderFrames(folder, frame_rate=25)
  path = str(tmp_path / "clip.tfsv")
  progress = []
  stats = coder.compress(source, path, gop_size=3, progress=progress.append)
  assert [s.frame_type for s in stats.frames] == list("IPPIP") and progress == list(stats.frames)
  assert stats.file_bytes == os.path.getsize(path)
  assert all(s.bits == 8 * s.num_bytes > 0 and s.seconds > 0 for s in stats.frames)
  header = vb.read_header(path)
  assert (header.width, header.height, header.gop_size, header.frame_count) == (70, 37, 3, 5)
  assert (header.model, header.fingerprint) == (coder.name, coder.model_id.fingerprint)
  records = list(vb.read_frames(path))
  assert sum(r.num_bytes for r in records) == sum(s.num_bytes for s in stats.frames)
  assert [r.index_checksum for r in records] == [s.index_checksum for s in stats.frames]

  encoded = list(coder.encode_frames(source, gop_size=3))
  assert [e.frame for e in encoded] == records  # deterministic encoder
  decoded_stats = []
  decoded = list(coder.decompress(path, progress=decoded_stats.append))
  assert [s.index_checksum for s in decoded_stats] == [r.index_checksum for r in records]
  for frame, item in zip(decoded, encoded, strict=True):
    assert frame.shape == (37, 70, 3)
    np.testing.assert_array_equal(frame, item.reconstruction)

  with pytest.raises(FileExistsError, match="exists"):
    coder.compress(source, path, gop_size=3)
  with pytest.raises(FileExistsError, match="input file"):
    coder.compress(source, source.paths[0], force=True)
  assert coder.compress(source, path, gop_size=3, force=True).file_bytes == stats.file_bytes


def test_long_sequences_stream_with_bounded_memory(coder, tmp_path):
  """50 generated frames: the source is never read more than one frame ahead of the coder
  and only the frame being coded is alive when the next is read; decoding yields frame by
  frame."""
  # Tracing a tf.function snapshots the callers' locals (a frame) once: trace first.
  coder.compress(moving_frames(2, 8, 8), str(tmp_path / "warm-up.tfsv"))
  coded, alive = [], []

  def source():
    for index, frame in enumerate(moving_frames(50, 24, 40)):
      assert index - len(coded) <= 1, "the coder read ahead"
      assert sum(r() is not None for r in alive) <= 1, "the coder kept old frames"
      alive.append(weakref.ref(frame))
      yield frame
      del frame

  path = str(tmp_path / "long.tfsv")
  stats = coder.compress(source(), path, gop_size=12, progress=coded.append)
  assert stats.num_frames == 50 and vb.read_header(path).frame_count is None
  assert "".join(s.frame_type for s in stats.frames) == ("I" + "P" * 11) * 4 + "IP"
  decoded = []
  frames = coder.decompress(path, progress=decoded.append)
  next(frames)
  assert len(decoded) == 1
  assert sum(1 for _ in frames) == 49


def test_files_of_other_models_or_damaged_files_are_refused(coder, tmp_path):
  path = str(tmp_path / "other.tfsv")
  other = VideoCoder(coder.model, ModelId("other/model", "conv-ssf-tiny", "0123456789abcdef"))
  other.compress(moving_frames(2, 16, 16), path)
  with pytest.raises(WrongModelError, match="made by model other/model .*conv-ssf-tiny"):
    coder.decompress(path)
  image_file = tmp_path / "image.tfsw"
  image_file.write_bytes(b"TFSW\x01" + bytes(32))
  with pytest.raises(vb.UnsupportedVideoError, match="image file, not a video"):
    coder.decompress(str(image_file))

  path = str(tmp_path / "mine.tfsv")
  coder.compress(moving_frames(3, 16, 16), path)
  header, frames = vb.unpack_video(open(path, "rb").read())

  def decode(changed):
    crafted = tmp_path / "crafted.tfsv"
    crafted.write_bytes(vb.pack_video(header, changed))
    return list(coder.decompress(str(crafted)))

  with pytest.raises(vb.CorruptVideoError, match="frame 1 has 3 strings"):
    decode([frames[0], vb.Frame("P", frames[1].strings[:3], frames[1].index_checksum),
            frames[2]])
  wrong_checksum = vb.Frame("P", frames[1].strings, frames[1].index_checksum ^ 1)
  with pytest.raises(vb.CorruptVideoError, match="frame 1: the decoder's scale indexes"):
    decode([frames[0], wrong_checksum, frames[2]])
  garbage = tuple(bytes(255 - b for b in s) for s in frames[1].strings)
  with pytest.raises(vb.CorruptVideoError, match="frame 1"):
    decode([frames[0], vb.Frame("P", garbage, frames[1].index_checksum), frames[2]])


@pytest.mark.slow
def test_restore_and_init_parts(tmp_path, codec):
  video = build_video_codec("conv-ssf-tiny")
  saved = tf.train.Checkpoint(model=video).save(str(tmp_path / "video" / "ckpt"))
  fingerprint = video.fingerprint()
  video.flow.g_s.trainable_variables[0].assign_add(tf.ones_like(
      video.flow.g_s.trainable_variables[0]))
  assert video.fingerprint() != fingerprint
  assert video.restore(str(tmp_path / "video")) == saved
  assert video.fingerprint() == fingerprint

  image = build_codec("conv-hyperprior-tiny")
  tf.train.Checkpoint(model=image).write(str(tmp_path / "image" / "ckpt-7"))
  video.init_part("iframe", str(tmp_path / "image" / "ckpt-7"))
  assert video.iframe.fingerprint() == image.fingerprint()
  # A warm start of the residual codec from an image model of its shapes (--init_residual).
  donor = ImageCodec(video.config.residual)
  tf.train.Checkpoint(model=donor).write(str(tmp_path / "residual" / "ckpt-3"))
  assert video.residual.fingerprint() != donor.fingerprint()
  video.init_part("residual", str(tmp_path / "residual" / "ckpt-3"))
  assert video.residual.fingerprint() == donor.fingerprint()
  with pytest.raises(ValueError, match="'flow' is not"):
    video.init_part("flow", str(tmp_path / "image" / "ckpt-7"))
  with pytest.raises(ValueError, match="do not fit the residual codec"):
    video._copy_part("residual", build_codec("swint-hyperprior-tiny"), "donor")  # pylint: disable=protected-access
  with pytest.raises(ValueError, match="no checkpoint"):
    video.restore(str(tmp_path))
  codec.ensure_prepared()  # a no-op after the coding tests
  with pytest.raises(RuntimeError, match="before prepare_for_compression"):
    codec.restore(saved)
  assert isinstance(video, PFrameCodec) and video.num_strings == {"I": 2, "P": 4}


@pytest.fixture(scope="module")
def evaluate_video():
  return load_experiment("evaluate_video")


def test_model_specs(evaluate_video):
  parse = evaluate_video.parse_model_spec
  assert parse("swint-ssf-tiny") == evaluate_video.ModelSpec("swint-ssf-tiny", "swint-ssf-tiny")
  assert parse("SSF=conv-ssf@runs/a=1/ckpt-5") == evaluate_video.ModelSpec(
      "SSF", "conv-ssf", "runs/a=1/ckpt-5")
  assert parse("runs/ssf-0.001/") == evaluate_video.ModelSpec("ssf-0.001", "runs/ssf-0.001/")
  with pytest.raises(ValueError, match="expected"):
    parse("ours=")


@pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")
def test_evaluate_video_main(evaluate_video, codec, tmp_path, monkeypatch):
  """The binary on a 4-frame clip with the untrained tiny SwinT-SSF (the shared instance, to
  avoid rebuilding its coding tables) and x264 / x265 at two CRFs each."""
  folder = str(tmp_path / "clip")
  write_png_frames(moving_frames(4, 48, 64), folder)
  monkeypatch.setattr(evaluate_video, "build_video_codec", lambda name: codec)
  out = tmp_path / "out"
  evaluate_video.FLAGS([
      "evaluate_video", f"--sequences={folder}", "--models=swint-ssf-tiny", "--crfs=30,45",
      "--gop_size=3", "--anchor_threads=1", "--metric=psnr_yuv", f"--output_dir={out}"])
  try:
    evaluate_video.run([])
  finally:
    evaluate_video.FLAGS.unparse_flags()
  results = json.loads((out / "results.json").read_text())
  clip = results["sequences"]["clip"]
  assert set(clip["curves"]) == {"swint-ssf-tiny", "x264", "x265"}
  ours = clip["curves"]["swint-ssf-tiny"][0]
  assert ours["model"] == "untrained/swint-ssf-tiny" and len(ours["frames"]) == 4
  assert [f["type"] for f in ours["frames"]] == list("IPPI")
  assert len(clip["curves"]["x264"]) == len(clip["curves"]["x265"]) == 2
  assert clip["bd_rate"]["swint-ssf-tiny"] is None  # one point: no curve
  assert "at least 2" in clip["bd_rate_errors"]["swint-ssf-tiny"]
  assert np.isfinite(clip["bd_rate"]["x265"])  # the YUV PSNRs of x264 / x265 overlap
  assert results["average_bd_rate"]["x265"] == {"mean": clip["bd_rate"]["x265"], "sequences": 1}
  table = (out / "bdrate.md").read_text()
  assert "| clip |" in table and "| **average** |" in table
  assert (out / "rd_clip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _results_file(path, labels, num_frames=12, gop_size=12, x264_rate=1.0):
  """A results.json of evaluate_video with x264 / x265 and a curve per label (made-up
  points: x264 at 0.1-0.4 bpp, each label at the factor of x264's rate it maps to)."""
  def points(rate, **extra):
    return [{"bpp": rate * b, "psnr_rgb": 30.0 + 10 * b, "psnr_yuv": 32.0 + 10 * b,
             "num_frames": num_frames, **extra} for b in (0.1, 0.2, 0.3, 0.4)]
  curves = {"x264": points(x264_rate, crf=20, encoder="libx264"),
            "x265": points(0.9, crf=20, encoder="libx265")}
  curves |= {label: points(rate, model=label) for label, rate in labels.items()}
  sequence = {"path": "seq", "width": 64, "height": 48, "num_frames": num_frames,
              "curves": curves}
  path.write_text(json.dumps({"gop_size": gop_size, "crfs": [20, 30],
                              "sequences": {"seq": sequence}}))
  return str(path)


def test_evaluate_video_merges_earlier_results(evaluate_video, tmp_path):
  """--merge puts the curves of several runs into one table and plot, and refuses files that
  do not describe the same frames or that name a curve twice."""
  a = _results_file(tmp_path / "a.json", {"A": 1.5})
  b = _results_file(tmp_path / "b.json", {"B": 3.0})
  merged = evaluate_video.merge_results([a, b])
  assert list(merged["sequences"]["seq"]["curves"]) == ["x264", "x265", "A", "B"]
  assert merged["merged_from"] == [a, b]
  out = tmp_path / "out"
  evaluate_video.FLAGS(["evaluate_video", f"--merge={a},{b}", f"--output_dir={out}"])
  try:
    evaluate_video.run([])
  finally:
    evaluate_video.FLAGS.unparse_flags()
  results = json.loads((out / "results.json").read_text())
  assert results["average_bd_rate"]["A"]["mean"] == pytest.approx(50.0)
  assert results["average_bd_rate"]["B"]["mean"] == pytest.approx(200.0)
  assert results["average_bd_rate"]["x265"]["mean"] == pytest.approx(-10.0)
  assert "| seq | -10.0% | +50.0% | +200.0% |" in (out / "bdrate.md").read_text()
  assert (out / "rd_seq.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(ValueError, match="'A' of seq is also in"):
    evaluate_video.merge_results([a, _results_file(tmp_path / "c.json", {"A": 2.0})])
  with pytest.raises(ValueError, match="num_frames 24"):
    evaluate_video.merge_results([a, _results_file(tmp_path / "d.json", {"D": 2.0}, num_frames=24)])
  with pytest.raises(ValueError, match="x264 curve of seq differs"):
    evaluate_video.merge_results([a, _results_file(tmp_path / "f.json", {"F": 2.0},
                                                   x264_rate=1.01)])
  with pytest.raises(ValueError, match="gop_size 8"):
    evaluate_video.merge_results([a, _results_file(tmp_path / "e.json", {"E": 2.0}, gop_size=8)])
