"""experiments/benchmark_public.py without the public source and without ../shared: the
checks of --public_src, the importer, the summary and the report (issue 16)."""
import sys

import pytest
import tensorflow as tf
from absl import app, flags
from absl.testing import flagsaver

from helpers import load_experiment
from tfc_swin.profiling.complexity import MacCount

bench = load_experiment("benchmark_public")


def _fake_checkout(root, zyc2022="from config import A\nfrom swins import B\nVALUE = A + B\n"):
  (root / "swin-transformers-tf" / "swins").mkdir(parents=True)
  (root / "config.py").write_text("A = 1\n")
  (root / "swin-transformers-tf" / "swins" / "__init__.py").write_text("from .part import B\n")
  (root / "swin-transformers-tf" / "swins" / "part.py").write_text("B = 2\n")
  (root / "zyc2022.py").write_text(zyc2022)
  return root


@pytest.fixture
def clean_modules(monkeypatch):
  """Drops what import_public puts into sys.modules once the test is done."""
  for name in bench.PUBLIC_MODULES + ("swins.part",):
    monkeypatch.delitem(sys.modules, name, raising=False)
  yield
  for name in bench.PUBLIC_MODULES + ("swins.part",):
    sys.modules.pop(name, None)


def test_public_src_is_required_and_checked(tmp_path):
  with pytest.raises(ValueError, match="--public_src is required.*git clone"):
    bench.check_public_src(None)
  with pytest.raises(ValueError, match="no such directory"):
    bench.check_public_src(str(tmp_path / "nope"))
  (tmp_path / "config.py").write_text("")
  with pytest.raises(ValueError, match=r"not a checkout of .*Nikolai10/SwinT-ChARM: missing "
                     r"zyc2022\.py, swin-transformers-tf/swins/__init__\.py \(clone"):
    bench.check_public_src(str(tmp_path))
  checkout = _fake_checkout(tmp_path / "public")
  assert bench.check_public_src(str(checkout)) == checkout.resolve()


def test_binary_stops_with_a_usage_error_before_any_model_is_built(tmp_path):
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()
  with flagsaver.flagsaver(public_src=None):
    with pytest.raises(app.UsageError, match="--public_src is required"):
      bench.run([])
  with flagsaver.flagsaver(public_src=str(tmp_path)):
    with pytest.raises(app.UsageError, match="missing zyc2022.py"):
      bench.run([])


def test_import_public_loads_the_checkout_without_changing_it(tmp_path, clean_modules):
  del clean_modules
  checkout = _fake_checkout(tmp_path)
  before = {p: p.read_bytes() for p in checkout.rglob("*.py")}
  module = bench.import_public(bench.check_public_src(str(checkout)))
  assert module.VALUE == 3
  assert sys.modules["swins"].__file__.startswith(str(checkout.resolve()))
  assert {p: p.read_bytes() for p in checkout.rglob("*.py")} == before


def test_import_public_refuses_a_foreign_config_module(tmp_path, monkeypatch, clean_modules):
  del clean_modules
  other = tmp_path / "elsewhere" / "config.py"
  other.parent.mkdir()
  other.write_text("")
  fake = type(sys)("config")
  fake.__file__ = str(other)
  monkeypatch.setitem(sys.modules, "config", fake)
  with pytest.raises(RuntimeError, match="'config' from .*elsewhere"):
    bench.import_public(bench.check_public_src(str(_fake_checkout(tmp_path / "public"))))


def test_count_parameters():
  module = tf.Module()
  module.w = tf.Variable(tf.zeros([3, 4]))
  module.b = tf.Variable(tf.zeros([4]))
  module.frozen = tf.Variable(tf.zeros([5]), trainable=False)
  assert bench.count_parameters(module) == 16


def _macs(scale=1):
  return {"g_a": MacCount(linear_conv=100 * scale, attention=20), "h_a": MacCount(linear_conv=1),
          "h_s": MacCount(linear_conv=2), "charm": MacCount(linear_conv=7),
          "g_s": MacCount(linear_conv=90, transposed_zeros=10, attention=40)}


def _round(index, model, encode, decode, gflops):
  return {"round": index, "model": model, "encode": encode, "decode": decode, "bpp": 10.0,
          "shape_ok": True, "gflops": {"gflops": gflops, "samples_gflops": [gflops]}}


def _result(rounds, memory=None):
  params = {bench.OURS: 32_558_608, bench.PUBLIC: 32_556_240,
            bench.OURS_FLOAT32: 32_558_608, bench.OURS_FUSED: 32_558_608}
  return {"date": "2026-11-27 09:00 UTC",
          "machine": {"cpu": "Test CPU", "cores": 2, "tensorflow": "2.14.1", "onednn": "default"},
          "load_before": [3.5, 3.0, 2.5], "load_after": [4.0, 3.5, 3.0], "public_commit": None,
          "public_max_support_slices": 10, "image": "kodim01.png", "height": 512, "width": 768,
          "repeats": 2, "rounds": 2, "memory": memory, "rounds_detail": rounds,
          "summary": bench.summarize(rounds, params, {bench.OURS: _macs(),
                                                      bench.PUBLIC: _macs()})}


def test_summary_takes_medians_over_rounds_and_one_floor():
  rounds = [_round(1, bench.OURS, [2.0, 3.0], [1.0, 1.0], 100.0),
            _round(1, bench.PUBLIC, [6.0, 6.0], [2.0, 2.0], 300.0),
            _round(2, bench.OURS, [2.0, 9.0], [1.0, 5.0], 200.0),
            _round(2, bench.PUBLIC, [3.0, 3.0], [1.0, 1.0], 400.0)]
  summary = bench.summarize(rounds, {bench.OURS: 5, bench.PUBLIC: 6},
                            {bench.OURS: _macs(), bench.PUBLIC: _macs(2)})
  ours, public = summary["models"][bench.OURS], summary["models"][bench.PUBLIC]
  assert (ours["encode"], ours["decode"]) == (2.5, 1.0)
  assert (public["encode"], public["decode"]) == (4.5, 1.5)
  assert summary["public_over_ours"] == pytest.approx({"encode": 1.8, "decode": 1.5})
  assert summary["gflops"] == 250.0 and summary["gflops_range"] == [100.0, 400.0]
  enc_macs, dec_macs = 120 + 1 + 2 + 7, 2 + 7 + 120  # effective: no transposed zeros
  assert (ours["encode_macs"], ours["decode_macs"]) == (enc_macs, dec_macs)
  assert public["encode_macs"] == enc_macs + 100  # its own count, reported only
  floor = 2 * enc_macs / 250e9  # ours gives the floor of both
  assert summary["floor_s"]["encode"] == pytest.approx(floor)
  assert public["encode_floor_ratio"] == pytest.approx(4.5 / floor)
  assert (ours["parameters"], public["parameters"]) == (5, 6)


def test_report_states_whether_the_goal_is_met():
  rounds = [_round(1, bench.OURS, [3.0], [2.0], 100.0),
            _round(1, bench.OURS_FLOAT32, [2.0], [1.0], 100.0),
            _round(1, bench.OURS_FUSED, [1.2], [2.5], 100.0),
            _round(1, bench.PUBLIC, [2.4], [4.0], 100.0)]
  memory = {m: {"encode_bytes": 5e8, "decode_bytes": 4e8, "baseline_rss_bytes": 2e9,
                "weights_bytes": 1.3e8, "method": "VmHWM"} for m in (bench.OURS, bench.PUBLIC)}
  report = bench.markdown_report(_result(rounds, memory))
  assert "load average (1/5/15 min) 3.50/3.00/2.50 before and 4.00/3.50/3.00 after" in report
  assert "| ours (`swint-charm`) | 32.56 | 3000 | 2000 |" in report
  assert "| public (`zyc2022.ZYC2022Model`) | 32.56 | 2400 | 4000 |" in report
  assert ("* **ours (`swint-charm`): encode 0.80 (ours 1.25x slower), decode 2.00**: does not "
          "meet the goal.") in report
  assert ("* **ours, h_s + ChARM in float32 (opt-in, files not portable): encode 1.20, decode "
          "4.00**: does not meet the goal.") in report
  assert ("* **ours, XLA-fused LayerNorm / GELU (opt-in): encode 2.00, decode 1.60**: meets "
          "the goal.") in report
  fused = report.split("| ours, XLA-fused LayerNorm / GELU (opt-in) | 32.56 | 1200 | 2500 | ")[1]
  ours = report.split("| ours (`swint-charm`) | 32.56 | 3000 | 2000 | ")[1]
  assert fused.split(" | ")[2:4] == ours.split(" | ")[2:4]  # the MACs of ours
  assert "## Peak memory (MB)" in report and "| 500 | 400 | 2000 | 130 | VmHWM |" in report
  assert "| 1 | public | 100.0 | 2400 | 4000 |" in report
  met = bench.markdown_report(_result([_round(1, bench.OURS, [1.0], [1.0], 100.0),
                                       _round(1, bench.PUBLIC, [1.5], [2.0], 100.0)]))
  assert "encode 1.50, decode 2.00**: meets the goal." in met
  assert "Peak memory" not in met


def test_time_round_counts_the_public_strings_and_checks_the_shape():
  class FakePublic:  # compress: (x_shape, y_shape, z_shape, z_string, *y_strings)
    def compress(self, x):
      return (tf.shape(x)[:2], None, None, tf.constant([b"ab"]), tf.constant([b"cde"]))

    def decompress(self, x_shape, *rest):
      del rest
      return tf.zeros(tf.concat([x_shape, [3]], 0), tf.uint8)

  record = bench.time_round(bench.public_coder(FakePublic()), tf.zeros([4, 6, 3], tf.uint8), 2)
  assert len(record["encode"]) == len(record["decode"]) == 2
  assert record["bpp"] == pytest.approx(8 * 5 / 24) and record["shape_ok"]
