"""SavedModel export and the zoo: byte-identical files, checksums, qualities, CLI selection."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl.app import UsageError
from helpers import load_experiment

from tfc_swin import api, cli, zoo
from tfc_swin.codecs import build_codec, restore_codec
from tfc_swin.codecs.image import coding_options, set_coding_options
from tfc_swin.coder import Coder, read_model_info
from tfc_swin.layers import compiled
from tfc_swin.training import init_from, run_dir, zoo_export

pytestmark = pytest.mark.slow  # SavedModel exports


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("zoo")
  old = os.environ.get("TFC_SWIN_ZOO")
  os.environ["TFC_SWIN_ZOO"] = str(root)
  codecs = {}
  for quality, seed in ((1, 0), (2, 1)):
    tf.keras.utils.set_random_seed(seed)
    codecs[quality] = build_codec("swint-charm-tiny")
    # q1 exported with bfloat16 matmuls in g_a / g_s, q2 with them fused.
    set_coding_options(codecs[quality], fused_elementwise=quality == 2,
                       bfloat16_matmuls=quality == 1)
    zoo.add_to_zoo(codecs[quality], "tiny", "1", quality,
                   {"lmbda": 0.01 / quality, "steps": 0, "training_data": "none"})
  (root / "zoo.json").write_text(json.dumps({"default": {"model": "tiny", "version": "1",
                                                          "quality": 2}}))
  yield root, codecs
  if old is None:
    del os.environ["TFC_SWIN_ZOO"]
  else:
    os.environ["TFC_SWIN_ZOO"] = old


def test_saved_model_gives_byte_identical_files(zoo_root, make_image):
  _, codecs = zoo_root
  image = make_image(45, 70)
  in_memory = Coder.from_codec(codecs[2], "tiny/1/q2")
  loaded = zoo.load("tiny", quality=2)
  assert loaded.model_id == in_memory.model_id
  data = loaded.compress_array(image)
  assert data == in_memory.compress_array(image)
  np.testing.assert_array_equal(loaded.decode(data), in_memory.decode(data))


def test_exports_record_whether_g_a_and_g_s_run_fused(monkeypatch, make_image, zoo_root):
  """Coding functions may fuse LayerNorm / GELU with XLA (ImageCodec.analysis / synthesis;
  off by default, TFC_SWIN_XLA_CODING overrides): an export records it and a restored codec
  codes as its SavedModel does (the fixture's q2 is fused, and the byte-identity test above
  holds for it). Files of a fused and a plain coder of the same weights decode with either
  (the scale indexes come from float64 h_s), to images within one level."""
  _, codecs = zoo_root
  assert read_model_info(zoo.model_folder("tiny", 1, "1"))["fused_elementwise"] is False
  assert read_model_info(zoo.model_folder("tiny", 2, "1"))["fused_elementwise"] is True
  restored = restore_codec(zoo.model_folder("tiny", 2, "1"))
  assert restored.fused_elementwise
  for value, enabled, expected in (("0", True, False), ("1", False, True), ("", True, True)):
    monkeypatch.setenv(compiled.CODING_ENV, value)
    assert compiled.coding_fused(enabled) is expected
  monkeypatch.setenv(compiled.CODING_ENV, "yes")
  with pytest.raises(ValueError, match=compiled.CODING_ENV):
    compiled.coding_fused(True)
  monkeypatch.delenv(compiled.CODING_ENV)
  set_coding_options(restored, fused_elementwise=False)
  image = make_image(45, 70)
  coders = [zoo.load("tiny", quality=2), Coder.from_codec(restored, "plain")]
  for writer in coders:
    data = writer.compress_array(image)
    decoded = [c.decode(data).astype(int) for c in coders]
    assert np.abs(decoded[0] - decoded[1]).max() <= 1


def test_manifest_and_qualities(zoo_root):
  m = zoo.manifest("tiny")
  entry = m["versions"]["1"]["qualities"]["1"]
  assert entry["lmbda"] == 0.01 and "saved_model.pb" in entry["files"]
  assert entry["tensorflow"] == tf.__version__
  assert zoo.qualities("tiny") == [1, 2] == zoo.qualities()
  assert zoo.models() == ["tiny"] and zoo.default()["quality"] == 2
  assert zoo.load().name == "tiny/1/q2"


def test_set_default_keeps_the_other_kinds_default(zoo_root):
  root, _ = zoo_root
  path = root / "zoo.json"
  original = path.read_text()
  video = {"model": "some-video", "version": "3", "quality": 1}
  path.write_text(json.dumps({**json.loads(original), "video_default": video}))
  try:
    assert zoo.default("video") == video and zoo.default()["model"] == "tiny"
    # "latest" resolves to the version; no quality: the middle one of [1, 2].
    chosen = zoo.set_default("tiny", "latest")
    assert chosen == {"model": "tiny", "version": "1", "quality": 1}
    assert json.loads(path.read_text()) == {"default": chosen, "video_default": video}
    with pytest.raises(zoo.ZooError, match="tiny version 1 has no quality 5"):
      zoo.set_default("tiny", "1", 5)
    path.write_text(original)  # An image default only.
    with pytest.raises(zoo.ZooError, match=r"has no default video model \('video_default' in "
                       r"zoo.json\); name a model \(--model\)$"):
      zoo.load_video()
    assert zoo.default("video", missing_ok=True) == {}
  finally:
    path.write_text(original)


def test_missing_entries_give_clear_errors(zoo_root):
  with pytest.raises(zoo.ZooError, match="no model 'nope'"):
    zoo.load("nope")
  with pytest.raises(zoo.ZooError, match="no quality 7"):
    zoo.load("tiny", quality=7)
  with pytest.raises(zoo.ZooError, match="no version 9"):
    zoo.load("tiny", version="9")


def test_checksum_mismatch_is_detected(zoo_root):
  root, _ = zoo_root
  folder = root / "tiny" / "1" / "q1"
  for path in (folder / "tfc_swin_model.json",
               next((folder / "variables").glob("variables.data-*"))):
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01  # One flipped bit in any file of the model.
    path.write_bytes(bytes(flipped))
    try:
      with pytest.raises(zoo.ZooError, match="do not match the manifest checksums "
                         rf"\(1 file: {path.relative_to(folder)}\)$"):
        zoo.load("tiny", quality=1)
    finally:
      path.write_bytes(original)


def test_cli_uses_zoo_default_and_named_quality(zoo_root, tmp_path, capsys, make_image):
  from PIL import Image
  src = tmp_path / "in.png"
  Image.fromarray(make_image(30, 20)).save(src)
  assert cli.main(["compress", str(src), str(tmp_path / "a.tfsw")]) == 0
  assert "tiny/1/q2" in capsys.readouterr().out
  assert cli.main(["compress", str(src), str(tmp_path / "b.tfsw"), "--model", "tiny",
                   "--quality", "1"]) == 0
  assert cli.main(["decompress", str(tmp_path / "b.tfsw"), str(tmp_path / "b.png")]) == 0
  assert "tiny/1/q1" in capsys.readouterr().out
  assert cli.main(["models", "--zoo"]) == 0
  assert "tiny (default)" in capsys.readouterr().out
  assert cli.main(["models", "--zoo", "--markdown"]) == 0
  table = capsys.readouterr().out.splitlines()
  assert table[0].startswith("| model | version | quality | lambda | steps | train hours")
  assert len(table) == 2 + 2 and table[2].startswith("| tiny | 1 | 1 |")


def test_remove_version_keeps_the_default(zoo_root):
  root, codecs = zoo_root
  zoo.add_to_zoo(codecs[1], "tiny", "2", 1, {"lmbda": 0.01, "steps": 0, "training_data": "none"})
  assert zoo.qualities("tiny", version="latest") == [1]  # v2 is the latest now
  with pytest.raises(zoo.ZooError, match="is the zoo default"):
    zoo.remove_version("tiny", "1")
  zoo.remove_version("tiny", "2")
  assert sorted(zoo.manifest("tiny")["versions"]) == ["1"] and not (root / "tiny" / "2").exists()


def test_training_starts_from_a_zoo_savedmodel(zoo_root):
  root, codecs = zoo_root  # how a run resumes on a machine without the run's checkpoints
  fresh = build_codec("swint-charm-tiny")
  _, parts = init_from(fresh, str(root / "tiny" / "1" / "q1"))
  assert "prior" in parts  # same config: the whole model, ChARM networks included
  for a, b in zip(codecs[1].trainable_variables, fresh.trainable_variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_new_version_can_take_earlier_exports(zoo_root, tmp_path):
  root, codecs = zoo_root  # e.g. a run's export whose run folder was on another machine
  sources = [str(root / "tiny" / "1" / q) for q in ("q2", "q1")]
  name, count = zoo_export.export_runs(sources, "3", "tiny", log=lambda _: None)
  assert (name, count) == ("tiny", 2)
  _, records = zoo.version_records("tiny", "3")
  for quality in (1, 2):  # ordered by lambda again; same weights, same training record
    record = records[str(quality)]
    assert record["copied_from"] == sources[2 - quality]
    assert record["fingerprint"] == codecs[quality].fingerprint()
    assert record["lmbda"] == 0.01 / quality and record["training_data"] == "none"
  run_dir.write_config(str(tmp_path), {"model": "conv-hyperprior-tiny", "lmbda": 0.1})
  with pytest.raises(ValueError, match="runs mix configs"):
    zoo_export.export_runs([sources[0], str(tmp_path)], "4", "tiny")
  zoo.remove_version("tiny", "3")


def test_zoo_location_override_and_missing_zoo(zoo_root, monkeypatch, tmp_path):
  root, _ = zoo_root
  assert zoo.root() == str(root)  # $TFC_SWIN_ZOO
  monkeypatch.delenv(zoo.ZOO_ENV)
  monkeypatch.setattr(zoo, "INSTALLED_ZOO", str(tmp_path / "site-packages" / "zoo_data"))
  monkeypatch.setattr(zoo, "CHECKOUT_ZOO", str(tmp_path / "zoo"))
  with pytest.raises(zoo.ZooError, match="no model zoo found .* set TFC_SWIN_ZOO"):
    zoo.models()
  (tmp_path / "zoo").mkdir()
  assert zoo.root() == str(tmp_path / "zoo") and zoo.models() == []  # a checkout's zoo/
  monkeypatch.setenv(zoo.ZOO_ENV, str(tmp_path / "nowhere"))
  with pytest.raises(zoo.ZooError, match="nowhere: no such folder"):
    zoo.models()


def test_load_coder_cache_follows_the_zoo_folder(zoo_root, monkeypatch, tmp_path):
  _, codecs = zoo_root
  first = api.load_coder("tiny", 1)
  assert api.load_coder("tiny", 1) is first
  monkeypatch.setenv(zoo.ZOO_ENV, str(tmp_path))
  # Another zoo whose tiny v1 q1 holds other weights (those of the first zoo's q2).
  zoo.add_to_zoo(codecs[2], "tiny", "1", 1, {"lmbda": 0.01, "steps": 0})
  other = api.load_coder("tiny", 1)
  assert other.model_id.fingerprint != first.model_id.fingerprint


def test_exports_record_bfloat16_matmuls_and_files_decode_either_way(zoo_root, make_image):
  """g_a / g_s may multiply in bfloat16 (ImageCodec.bfloat16_matmuls, issue 16): the export
  records it, its SavedModel writes the in-memory coder's bytes, and files of a bfloat16 and a
  float32 coder of the same weights decode with either (scale indexes from float64 h_s), to
  images close to each other."""
  _, codecs = zoo_root
  info = read_model_info(zoo.model_folder("tiny", 1, "1"))
  assert info["bfloat16_matmuls"] is True and info["fused_elementwise"] is False
  assert read_model_info(zoo.model_folder("tiny", 2, "1"))["bfloat16_matmuls"] is False
  restored = restore_codec(zoo.model_folder("tiny", 1, "1"))
  assert restored.bfloat16_matmuls and coding_options(restored)["bfloat16_matmuls"]
  image = make_image(45, 70)
  loaded = zoo.load("tiny", quality=1)
  data = loaded.compress_array(image)
  assert data == Coder.from_codec(codecs[1], "tiny/1/q1").compress_array(image)
  set_coding_options(restored, bfloat16_matmuls=False)
  coders = [loaded, Coder.from_codec(restored, "float32")]
  for writer in coders:
    data = writer.compress_array(image)
    decoded = [c.decode(data).astype(float) for c in coders]
    mse = np.mean((decoded[0] - decoded[1]) ** 2)
    assert 0 < mse and 10 * np.log10(255 ** 2 / mse) > 40
  with pytest.raises(ValueError, match="unknown coding options"):
    set_coding_options(restored, bfloat16=True)


def test_exports_record_float32_entropy_parameters(zoo_root, make_image, monkeypatch, tmp_path):
  """h_s and the ChARM networks may compute in float32 (ImageCodec.float32_entropy_parameters,
  issue 16; files then portable only where made): the export records it, a restored codec
  computes as its SavedModel does, and the SavedModel writes the in-memory coder's bytes."""
  _, codecs = zoo_root
  assert read_model_info(zoo.model_folder("tiny", 1, "1"))["float32_entropy_parameters"] is False
  monkeypatch.setenv("TFC_SWIN_ZOO", str(tmp_path))
  tf.keras.utils.set_random_seed(2)
  codec = build_codec("swint-charm-tiny")
  set_coding_options(codec, float32_entropy_parameters=True)
  zoo.add_to_zoo(codec, "tiny32", "1", 1, {"lmbda": 0.01, "steps": 0})
  folder = zoo.model_folder("tiny32", 1, "1")
  assert read_model_info(folder)["float32_entropy_parameters"] is True
  restored = restore_codec(folder)
  assert restored.float32_entropy_parameters and restored.prior.mean_transforms[1].compute_dtype \
      == "float32"
  assert not codecs[1].float32_entropy_parameters
  image = make_image(45, 70)
  data = zoo.load("tiny32", quality=1).compress_array(image)
  assert data == Coder.from_codec(codec, "tiny32/1/q1").compress_array(image)


def test_reexport_parses_coding_options():
  """experiments/reexport.py --coding_options: NAME=true|false of the known options only."""
  reexport = load_experiment("reexport")
  assert reexport.parse_coding_options(["bfloat16_matmuls=true", "fused_elementwise=False"]) == {
      "bfloat16_matmuls": True, "fused_elementwise": False}
  for bad in ("bfloat16=true", "bfloat16_matmuls", "bfloat16_matmuls=yes"):
    with pytest.raises(UsageError, match="coding_options"):
      reexport.parse_coding_options([bad])
