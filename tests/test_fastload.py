"""tfc_swin.fastload, the command line's fast start: the same files as the library's models, a
runtime without TensorFlow's Python API that still gives the API on demand, the graph cache."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfc_swin import fastload, zoo
from tfc_swin.coder import PAD_MULTIPLE, Coder
from helpers import smooth_image

pytestmark = pytest.mark.slow  # zoo models; fresh TensorFlow processes


def test_pad_multiple_is_the_codecs():
  from tfc_swin.codecs import PAD_MULTIPLE as codec_pad_multiple  # pylint: disable=C0415
  assert PAD_MULTIPLE == codec_pad_multiple


@pytest.fixture(scope="module")
def default_coders():
  """The zoo default loaded with tf.saved_model.load and with its coding functions only."""
  default = zoo.default()
  folder = zoo.model_folder(default["model"], default["quality"], default["version"])
  return Coder.from_saved_model(folder), Coder.from_saved_model(folder, functions_only=True)


def test_functions_only_codes_like_tf_saved_model_load(default_coders):
  full, fast = default_coders
  assert isinstance(fast.model, fastload.SavedModelFunctions)
  assert fast.model_id == full.model_id and fast.layout() == full.layout()
  for image in (smooth_image(40, 56), smooth_image(130, 70, seed=1)):
    data = full.compress_array(image)
    assert fast.compress_array(image) == data
    np.testing.assert_array_equal(fast.decode(data), full.decode(data))


def _env(cache):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TFC_SWIN_GRAPH_CACHE=str(cache))
  env.pop("TFC_SWIN_ZOO", None)  # The checkout's zoo, as zoo.load() below.
  return env


def _cli(*args, cache):
  proc = subprocess.run([sys.executable, "-m", "tfc_swin", *map(str, args), "-v", "--force"],
                        env=_env(cache), capture_output=True, text=True, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def test_command_line_files_and_graph_cache(default_coders, tmp_path):
  """Fresh ``tfc-swin`` processes (lean runtime, functions only, graph cache written then read)
  write the library's files and pixels."""
  full, _ = default_coders
  image = smooth_image(72, 88, seed=2)
  Image.fromarray(image).save(tmp_path / "in.png")
  expected = full.compress_array(image)
  cache = tmp_path / "graphs"
  for status in ("written", "read"):
    out = _cli("compress", tmp_path / "in.png", tmp_path / "out.tfsw", cache=cache)
    assert f"graph cache    compress: {status}" in out
    assert (tmp_path / "out.tfsw").read_bytes() == expected
  assert len(list(cache.glob("*/_-1___inference__compress_*"))) == 1
  for _ in range(2):
    _cli("decompress", tmp_path / "out.tfsw", tmp_path / "out.png", cache=cache)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")),
                                  full.decode(expected))
  assert len(list(cache.glob("*/_-1___inference__decompress_*"))) == 1


_LEAN = """
import sys
import numpy as np
from tfc_swin import fastload
assert fastload.import_runtime() and fastload.is_lean()
fastload.load_tfc_ops()
model = fastload.SavedModelFunctions(sys.argv[1])
from tensorflow.python.framework import constant_op
out = model.compress(constant_op.constant(np.full((9, 7, 3), 100, np.uint8)))
assert fastload.is_lean() and int(out["strings"].shape[0]) == model.num_strings
import tensorflow as tf  # The placeholder package: the API on first use.
assert int(tf.constant(2) + 1) == 3 and not fastload.is_lean()
from tensorflow_compression.python.ops import gen_ops  # Its ops library, loaded twice.
assert callable(gen_ops.create_range_encoder)
print("ok")
"""


def test_runtime_without_the_api_then_with_it(tmp_path):
  default = zoo.default()
  folder = zoo.model_folder(default["model"], default["quality"], default["version"])
  proc = subprocess.run([sys.executable, "-c", _LEAN, folder], env=_env(tmp_path),
                        capture_output=True, text=True, check=False)
  assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_fast_load_can_be_turned_off(monkeypatch):
  monkeypatch.setenv(fastload.FAST_LOAD_ENV, "0")
  assert not fastload.enabled() and fastload.enable_graph_cache() is None
  monkeypatch.setenv(fastload.GRAPH_CACHE_ENV, "off")
  monkeypatch.delenv(fastload.FAST_LOAD_ENV)
  assert fastload.graph_cache_folder() is None
  monkeypatch.delenv(fastload.GRAPH_CACHE_ENV)
  monkeypatch.setenv("XDG_CACHE_HOME", "/some/cache")
  assert fastload.graph_cache_folder() == "/some/cache/tfc_swin/graphs"
