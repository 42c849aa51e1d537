"""AICT codec (Ghorbel et al. 2023, sec. 3.3): scale adaptation around ICT. Training forward and
gradients, the scale code in the file, forced scales, the skip path, export, the Coder and the
two AICT experiments."""
import json
import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfc_swin import bitstream, cli, zoo
from tfc_swin.bitstream import BitstreamError
from tfc_swin.codecs import build_codec, restore_codec
from tfc_swin.codecs.base import index_checksum, pad_to_multiple, to_uint8
from tfc_swin.codecs.scale_adaptive import ScaleAdaptiveCodec, file_scale, max_code
from tfc_swin.coder import Coder, ModelId
from tfc_swin.configs import get_config
from tfc_swin.layers import scaled_size
from tfc_swin.profiling import timing
from tfc_swin.training.warm_start import TRANSFORM_PARTS, shared_parts
from helpers import load_experiment, smooth_image

AICT_PAPER_PARAMS = 37_230_400  # Ghorbel et al. Table 4: 37.2304M
SCALE_MODULE_PARAMS = 94_345  # two ConvNeXtProcessor(32) + ResizeParameterNetwork((8, 16, 32))


def _perturb(layer, rng, std):
  layer.set_weights([w + rng.normal(0, std, w.shape).astype(w.dtype)
                     for w in layer.get_weights()])


@pytest.fixture(scope="module")
def aict():
  """aict-tiny with perturbed scale-module weights (s about 0.6, varying slightly with the
  image), prepared for coding, and the id an in-memory Coder gives its files."""
  tf.keras.utils.set_random_seed(0)
  codec = build_codec("aict-tiny")
  rng = np.random.default_rng(0)
  for part in (codec.pre_processor, codec.post_processor):
    _perturb(part, rng, 1e-3)
  _perturb(codec.resize_net, rng, 0.05)
  p = (0.6 - 0.25) / 0.75
  codec.resize_net.head.set_weights([rng.normal(0, 0.5, (4, 1)).astype(np.float32),
                                     np.array([math.log(p / (1 - p))], np.float32)])
  codec.prepare_for_compression()
  return codec, ModelId("test/aict-tiny", "aict-tiny", codec.fingerprint())


# -- configuration and training -----------------------------------------------------------------
@pytest.mark.slow
def test_aict_parameter_count(paper_codec):
  """Table 4: 37.2304M; the scale module adds 94,345 parameters to ICT."""
  codec = paper_codec("aict")  # Built once with test_codecs' count of it (conftest.py).
  assert isinstance(codec, ScaleAdaptiveCodec)
  count = codec.count_parameters()
  assert abs(count - AICT_PAPER_PARAMS) / AICT_PAPER_PARAMS < 0.015, count
  assert count - codec.count_parameters(codec.inner) == SCALE_MODULE_PARAMS


@pytest.mark.slow
def test_forward_any_size_and_gradients_reach_all_parts(aict):
  codec = aict[0]
  x = tf.constant(np.stack([smooth_image(48, 80, seed=1), smooth_image(48, 80, seed=2)]),
                  tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    out = codec(x, training=True)
    rate, distortion = tf.reduce_sum(out["bits"]), tf.reduce_sum(out["mse"])
    loss = distortion + 0.01 * rate
  assert out["x_hat"].shape == x.shape and out["scale"].shape == (2,)
  np.testing.assert_allclose(out["bpp"], out["bits"] / (48 * 80), rtol=1e-6)
  s = out["scale"].numpy()
  assert np.all((s > 0.5) & (s < 0.7))
  np.testing.assert_allclose(s, codec.scale_from_code(codec.code_from_scale(s)))  # on the grid
  variables = codec.trainable_variables
  grads = tape.gradient(loss, variables)
  assert not [v.name for v, g in zip(variables, grads) if g is None]
  rpn = {v.ref() for v in codec.resize_net.trainable_variables}
  assert all(np.abs(g).max() > 0 for v, g in zip(variables, grads) if v.ref() in rpn)
  # s learns from both terms: the rate depends on the content's size within the canvas.
  bias = codec.resize_net.head.bias
  assert abs(float(tape.gradient(rate, bias)[0])) > 0
  assert abs(float(tape.gradient(distortion, bias)[0])) > 0


# -- the scale code -----------------------------------------------------------------------------
def test_scale_grid_and_codes(aict):
  codec = aict[0]
  adaptation = get_config("aict-tiny").wrapper
  k = max_code(adaptation)
  assert float(codec.scale_from_code(0)) == 1.0
  assert float(codec.scale_from_code(1)) == adaptation.min_scale
  assert float(codec.scale_from_code(k)) < adaptation.skip_above
  assert float(codec.scale_from_code(k + 1)) >= adaptation.skip_above
  codes = np.arange(1, k + 1)
  np.testing.assert_array_equal(codec.code_from_scale(codec.scale_from_code(codes)), codes)
  for s in (1.0, adaptation.skip_above, float("nan"), float("inf")):
    assert int(codec.code_from_scale(s)) == 0
  assert int(codec.code_from_scale(0.01)) == 1  # never below min_scale
  assert file_scale(adaptation, b"\x00") == 1.0 and file_scale(adaptation, b"\x01") == 0.25
  for bad in (bytes([k + 1]), b"", b"\x01\x01"):
    with pytest.raises(ValueError, match="bad scale code"):
      file_scale(adaptation, bad)
  for bad in (0.0, 0.1, 1.5, float("nan")):
    with pytest.raises(ValueError, match="scale must be in"):
      codec.compress_at_scale(smooth_image(8, 8), bad)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(1, 1), (37, 70), (70, 37), (130, 65)])
def test_round_trip_any_size(aict, shape):
  codec = aict[0]
  image = smooth_image(*shape, seed=sum(shape))
  out = codec.compress(image)
  strings = out["strings"].numpy()
  assert len(strings) == codec.num_strings and len(strings[0]) == 1
  code = strings[0][0]
  assert 0 < code <= max_code(codec.config.wrapper)  # s is about 0.6 here
  decoded = codec.decompress(out["strings"], out["shape"])
  assert decoded["image"].shape == shape + (3,)
  assert int(decoded["index_checksum"]) == int(out["index_checksum"])
  # The decoder reproduces the training forward pass at the coded s (one image: same canvas).
  forward = codec(image[None].astype(np.float32))
  assert float(forward["scale"][0]) == float(codec.scale_from_code(code))
  assert file_scale(codec.config.wrapper, strings[0]) == float(forward["scale"][0])
  expected = np.clip(np.round(forward["x_hat"][0].numpy()), 0, 255)
  diff = np.abs(decoded["image"].numpy().astype(np.float64) - expected)
  assert np.mean(diff > 1) < 0.01, np.mean(diff > 1)


@pytest.mark.slow
def test_forced_scales_code_smaller_canvases(aict):
  codec = aict[0]
  image = smooth_image(256, 192, seed=5)
  sizes = {}
  for s in (0.25, 0.5, 1.0):
    out = codec.compress_at_scale(image, s)
    code = int(out["code"])
    assert (code == 0) == (s == 1.0) and float(out["scale"]) == s
    expected = (256, 192) if s == 1.0 else scaled_size(256, 192, s, 64)
    assert tuple(out["canvas_shape"].numpy()) == expected
    strings = out["strings"].numpy()
    assert strings[0] == bytes([code])
    decoded = codec.decompress(out["strings"], out["shape"])
    assert decoded["image"].shape == image.shape
    assert int(decoded["index_checksum"]) == int(out["index_checksum"])
    sizes[s] = sum(len(t) for t in strings[1:])
  assert sizes[0.25] < sizes[0.5] < sizes[1.0], sizes
  assert int(codec.compress_at_scale(image, 0.3)["code"]) == int(codec.code_from_scale(0.3))


@pytest.mark.slow
def test_bad_scale_codes_are_refused(aict):
  codec, model_id = aict
  image = smooth_image(37, 70)
  strings = list(codec.compress(image)["strings"].numpy())
  shape = tf.constant([37, 70], tf.int32)
  for first in (bytes([max_code(codec.config.wrapper) + 1]), b"\xff", b"\x00\x01", b""):
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad scale code"):
      codec.decompress(tf.constant([first] + strings[1:]), shape)
  with pytest.raises(tf.errors.InvalidArgumentError, match="expected 4 strings"):
    codec.decompress(tf.constant(strings[:-1]), shape)
  # Through the file format (valid CRC): a clear BitstreamError.
  coder = Coder(codec, model_id)
  stream = bitstream.unpack(coder.compress_array(image))
  bad = bitstream.pack(bitstream.Bitstream(stream.header, [b"\xff"] + stream.strings[1:]))
  with pytest.raises(BitstreamError, match="corrupted.*bad scale code"):
    coder.decompress_array(bad)


def test_info_prints_the_scale_of_aict_files(aict, tmp_path, capsys):
  codec, model_id = aict
  stream = bitstream.unpack(Coder(codec, model_id).compress_array(smooth_image(37, 70)))
  for code, shown in ((0, "1 (scale adaptation skipped)"), (1, "0.2500 (image coded")):
    path = tmp_path / f"s{code}.tfsw"
    path.write_bytes(bitstream.pack(bitstream.Bitstream(stream.header, [bytes([code])]
                                                        + stream.strings[1:])))
    assert cli.main(["info", str(path)]) == 0
    assert f"AICT scale:     {shown}" in capsys.readouterr().out


# -- the skip path and the Coder ---------------------------------------------------------------
@pytest.mark.slow
def test_skip_path_codes_the_processed_image_at_full_size(aict):
  """s >= skip_above: no resampling; the inner codec (ICT with the same weights) codes the
  pre-processed image at full size and the decoder post-processes it (training always runs the
  processors); an ict-tiny coder refuses AICT files as another model's."""
  codec, model_id = aict
  ict = build_codec("ict-tiny")
  # --init_from ICT gives AICT all but the scale-adaptation module.
  assert shared_parts(codec, ict) == TRANSFORM_PARTS + ("prior",)
  mine = codec.weight_view()
  for name, part in ict.weight_view().items():
    for source, target in zip(mine[name].trainable_variables, part.trainable_variables):
      target.assign(source)
  ict_coder = Coder.from_codec(ict, "untrained/ict-tiny/seed0")
  image = smooth_image(37, 70, seed=9)
  processed = codec.pre_processor(tf.cast(image[None], tf.float32))
  theirs, indexes = ict.encode_canvas(pad_to_multiple(processed))
  for s in (1.0, codec.config.wrapper.skip_above):
    ours = codec.compress_at_scale(image, s)
    assert list(ours["strings"].numpy()) == [b"\x00"] + list(theirs.numpy())
    assert int(ours["index_checksum"]) == int(index_checksum(indexes))
  decoded = codec.decompress(ours["strings"], ours["shape"])
  assert int(decoded["index_checksum"]) == int(ours["index_checksum"])
  x_hat, _ = ict.decode_canvas(theirs, tf.constant([64, 128]))  # 37 x 70 padded to 64s
  expected = to_uint8(codec.post_processor(x_hat[:, :37, :70]), tf.constant([37, 70]))
  np.testing.assert_array_equal(decoded["image"], expected)
  data = Coder(codec, model_id).compress_array(image)
  with pytest.raises(BitstreamError, match="file was made by model test/aict-tiny"):
    ict_coder.decompress_array(data)


# -- experiments --------------------------------------------------------------------------------
def _script(name):
  return load_experiment(name[:-3] if name.endswith(".py") else name)


def test_experiments_run_on_aict_tiny(aict, tmp_path, monkeypatch):
  """Both AICT experiments end to end on two generated images (the model loader returns the
  module's aict-tiny, which is already traced)."""
  codec = aict[0]
  images = tmp_path / "images"
  images.mkdir()
  for i, shape in enumerate([(40, 56), (33, 70)]):
    Image.fromarray(smooth_image(*shape, seed=i)).save(images / f"im{i}.png")
  timing = _script("aict_scale_timing.py")
  monkeypatch.setattr(timing, "load_codec", lambda spec, quality: (codec, spec))
  output = tmp_path / "timing.md"
  timing.FLAGS(["timing", "--model=aict-tiny", f"--images={images}", "--scales=0.25,1.0",
                "--repeats=1", "--gflops_size=128", f"--output={output}", "--nomacs"])
  timing.run([])
  records = json.loads(output.with_suffix(".json").read_text())["records"]
  assert [r["requested"] for r in records[:3]] == [0.25, 1.0, "predicted"]
  assert len(records) == 6 and all(r["checksum_match"] for r in records)
  assert records[0]["canvas"] == [64, 64] and records[1]["code"] == 0
  assert "## Median over images" in output.read_text()
  scales = _script("plot_resize_scales.py")  # Imported now: --models is a required flag.
  monkeypatch.setattr(scales, "_codec", lambda spec: codec)
  scales.FLAGS(["scales", "--models=aict-tiny@0.01,aict-tiny@0.001", f"--datasets={images}",
                f"--output_dir={tmp_path}"])
  scales.run([])
  assert (tmp_path / "resize_scales.png").stat().st_size > 0
  result = json.loads((tmp_path / "resize_scales.json").read_text())
  assert len(result["records"]) == 4
  assert all(0.25 < r["s"] < 1 and r["code"] > 0 for r in result["records"])


# -- export (last: exporting prepares the codec again) -------------------------------------------
@pytest.mark.slow
def test_exported_saved_model_writes_identical_files(aict, tmp_path):
  """In-memory and SavedModel coders write byte-identical files (the in-memory ones are made
  first: exporting prepares the codec again, so its coding graphs would be traced anew)."""
  codec, model_id = aict
  memory = Coder(codec, model_id)
  images = [smooth_image(*shape, seed=3) for shape in ((37, 70), (130, 65))]
  files = [memory.compress_array(image) for image in images]
  assert memory.decompress_array(files[1])[0].shape == images[1].shape
  path = tmp_path / "model"
  assert zoo.export_codec(codec, str(path), model_id.name) == model_id
  saved = Coder.from_saved_model(str(path))
  assert saved.model_id == model_id
  assert set(saved.model.signatures["compress"].structured_outputs) == {
      "strings", "shape", "index_checksum", "slice_checksums"}
  assert set(saved.model.signatures["decompress"].structured_outputs) == {
      "image", "index_checksum", "slice_checksums"}
  assert [saved.compress_array(image) for image in images] == files
  restored = restore_codec(str(path))  # the checkpoint layout of weight_view()
  assert isinstance(restored, ScaleAdaptiveCodec)
  assert restored.fingerprint() == codec.fingerprint()


def test_the_stage_benchmark_times_the_inner_codec(aict):
  """experiments/benchmark.py's per-stage timing runs on AICT: its g_a ... g_s are the inner
  codec's, and its end-to-end functions round-trip."""
  codec, _ = aict
  result = timing.benchmark_image(codec, smooth_image(64, 64), repeats=1, warmup=0)
  assert set(result["samples"]) == set(timing.ALL_STAGES) | {
      "compress", "decompress", "y_range_coding", "y_range_decoding"}
  assert result["checksum_match"] and result["bpp"] > 0
