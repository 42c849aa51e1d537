"""Tests of tfc_swin.profiling (complexity, timing) and experiments/benchmark.py
(experiments/profile.py: test_profiling_video.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc
from PIL import Image

from tfc_swin.codecs import build_codec
from tfc_swin.configs import ChARM
from tfc_swin.layers import compiled
from tfc_swin.profiling import complexity, timing, trace
from helpers import REPO



def _spec(*shape: int) -> tf.TensorSpec:
  return tf.TensorSpec(shape, tf.float32)


@pytest.fixture(scope="module")
def swint_charm():
  return build_codec("swint-charm-tiny")


@pytest.fixture(scope="module")
def conv_hyperprior():
  return build_codec("conv-hyperprior-tiny")


@pytest.mark.parametrize("name", ["conv_hyperprior",
                                  pytest.param("swint_charm", marks=pytest.mark.slow)])
def test_module_parameters_sum_to_total(name, request):
  codec = request.getfixturevalue(name)
  params = complexity.module_parameters(codec)
  assert sum(params.values()) == codec.count_parameters()
  assert (params["charm"] > 0) == isinstance(codec.config.prior, ChARM)
  assert all(params[m] > 0 for m in ("g_a", "h_a", "h_s", "g_s", "entropy_bottleneck"))


def test_aict_scale_modules_are_counted():
  """AICT's resize network and pre/post-processors: in the parameters (which still sum to the
  total) and in the encoder / decoder MACs at the full image size."""
  codec = build_codec("aict-tiny")
  params = complexity.module_parameters(codec)
  assert sum(params.values()) == codec.count_parameters()
  assert all(params[m] > 0 for m in ("resize_net", "pre_processor", "post_processor"))
  macs = complexity.module_macs(codec, 64, 64)
  assert all(macs[m].paper > 0 for m in ("resize_net", "pre_processor", "post_processor"))
  assert complexity.encoder_modules(macs)[-2:] == ("resize_net", "pre_processor")
  assert complexity.decoder_modules(macs)[-1] == "post_processor"
  assert complexity.scale_modules(build_codec("ict-tiny")) == ()


def test_dense_macs():
  layer = tf.keras.layers.Dense(16)
  count = complexity.count_macs(layer, [_spec(1, 4, 6, 8)])
  assert count.linear_conv == count.total == count.effective == 4 * 6 * 8 * 16
  assert count.attention == count.gdn == count.transposed_zeros == 0
  assert count.other_flops >= 4 * 6 * 16  # the bias add, not a MAC


def test_strided_conv_macs():
  layer = tfc.SignalConv2D(4, (5, 5), corr=True, strides_down=2, padding="same_zeros")
  count = complexity.count_macs(layer, [_spec(1, 8, 8, 3)])
  assert count.linear_conv == 4 * 4 * 25 * 3 * 4


def test_transposed_conv_counts_at_upsampled_resolution():
  layer = tfc.SignalConv2D(4, (5, 5), corr=False, strides_up=2, padding="same_zeros")
  count = complexity.count_macs(layer, [_spec(1, 4, 4, 3)])
  assert count.paper == 8 * 8 * 25 * 3 * 4
  assert count.effective == 4 * 4 * 25 * 3 * 4
  assert count.transposed_zeros == count.paper - count.effective


def test_gdn_and_attention_are_separate():
  gdn = complexity.count_macs(tfc.GDN(name="gdn0"), [_spec(1, 4, 4, 8)])
  assert (gdn.gdn, gdn.linear_conv, gdn.paper) == (4 * 4 * 8 * 8, 0, 4 * 4 * 8 * 8)
  attention = complexity.count_macs(tf.matmul, [_spec(2, 3, 5, 7), _spec(2, 3, 7, 4)])
  assert (attention.attention, attention.paper, attention.total) == (2 * 3 * 5 * 4 * 7, 0,
                                                                    2 * 3 * 5 * 4 * 7)


def test_conv_codec_macs_match_analytic_count(conv_hyperprior):
  macs = complexity.module_macs(conv_hyperprior, 64, 64)  # g_a: 5x5/2 convs 3->8->8->8->12
  convs = 25 * (32 * 32 * 3 * 8 + 16 * 16 * 8 * 8 + 8 * 8 * 8 * 8 + 4 * 4 * 8 * 12)
  gdn = (32 * 32 + 16 * 16 + 8 * 8) * 8 * 8
  assert (macs["g_a"].linear_conv, macs["g_a"].gdn) == (convs, gdn)
  up_convs = 25 * (8 * 8 * 12 * 8 + 16 * 16 * 8 * 8 + 32 * 32 * 8 * 8 + 64 * 64 * 8 * 3)
  assert (macs["g_s"].linear_conv, macs["g_s"].gdn) == (up_convs, gdn)
  assert macs["charm"].total == 0


@pytest.mark.slow
def test_charm_and_swin_macs(swint_charm):
  shapes = complexity.latent_shapes(swint_charm, 64, 128)
  assert shapes["y"] == [1, 4, 8, 16] and shapes["z"] == [1, 1, 2, 8]
  charm = complexity.count_macs(lambda y, p: swint_charm.prior.forward(y, p, False)[0],
                                [_spec(*shapes["y"]), _spec(*shapes["params"])])
  assert charm.paper > 0 and charm.attention == 0
  small = complexity.count_macs(swint_charm.g_s, [_spec(1, 4, 8, 16)])
  big = complexity.count_macs(swint_charm.g_s, [_spec(1, 8, 8, 16)])
  assert small.attention > 0
  assert big.total == 2 * small.total  # linear in the number of pixels


def test_peak_rss_growth():
  # The primitive of measure_peak_memory (whose codec runs take too long for a unit test).
  total, growth, method = complexity.peak_rss_growth(lambda: np.ones(8_000_000).sum())
  assert total == 8_000_000 and method in ("VmHWM", "ru_maxrss")
  if method == "VmHWM":
    assert 60e6 <= growth < 200e6  # 64 MB were touched, then freed


def test_fit_image():
  image = np.arange(40 * 56 * 3, dtype=np.uint8).reshape(40, 56, 3)
  assert timing.fit_image(image, 40, 56).tolist() == image.tolist()
  np.testing.assert_array_equal(timing.fit_image(image, 20, 28), image[10:30, 14:42])
  assert timing.fit_image(image, 56, 40).shape == (56, 40, 3)  # rotated
  big = timing.fit_image(image, 128, 200)  # mirror-extended several times
  assert big.shape == (128, 200, 3)
  np.testing.assert_array_equal(big[44:84, 72:128], image)


def test_matmul_gflops():
  measured = timing.matmul_gflops(64, repeats=2, warmup=0)
  assert measured["gflops"] > 0 and len(measured["samples_gflops"]) == 2


def _layer_norm_gelu(x: tf.Tensor) -> tf.Tensor:
  mean = tf.reduce_mean(x, axis=-1, keepdims=True)
  centered = x - mean
  variance = tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True)
  gamma, beta = tf.constant(np.full(16, 1.5, np.float32)), tf.constant(np.zeros(16, np.float32))
  normed = centered * tf.math.rsqrt(variance + 1e-5) * gamma + beta
  return tf.nn.gelu(normed)


def test_graph_bytes_of_layer_norm_and_gelu():
  x, row, vec, scalar = 8 * 16 * 4, 8 * 4, 16 * 4, 4  # bytes of [8, 16], [8, 1], [16], []
  expected = sum([
      x + scalar + row,  # Mean over the last axis (the axis is an int32 scalar)
      x + row + x,  # Sub
      x + x,  # Square
      x + scalar + row,  # Mean
      row + scalar + row,  # AddV2 epsilon
      row + row,  # Rsqrt
      x + row + x,  # Mul by rsqrt
      x + vec + x,  # Mul by gamma
      x + vec + x,  # AddV2 beta
      scalar + x + x,  # GELU: Mul by 0.5
      x + scalar + x,  # RealDiv by sqrt(2)
      x + x,  # Erf
      scalar + x + x,  # AddV2 1
      x + x + x])  # Mul
  count = complexity.count_bytes(_layer_norm_gelu, [_spec(8, 16)])
  assert (count.counted, count.unknown_tensors, count.skipped_ops) == (expected, 0, 0)


def test_graph_bytes_leave_out_matmuls_reshapes_and_unknown_shapes():
  free = complexity.count_bytes(lambda a, b: tf.reshape(tf.matmul(a, b), [-1]),
                                [_spec(4, 8), _spec(8, 2)])
  assert (free.counted, free.unknown_tensors) == (0, 0)
  unknown = complexity.count_bytes(tf.nn.relu, [_spec(None, 8)])
  assert (unknown.counted, unknown.unknown_tensors) == (0, 2)
  loop = complexity.count_bytes(lambda a: tf.while_loop(lambda i, v: i < 3,
                                                        lambda i, v: (i + 1, v * 2.0),
                                                        (0, a))[1], [_spec(4)])
  assert loop.skipped_ops == 1


def test_graph_bytes_count_an_xla_fused_call_as_one_op():
  """The coder's fused LayerNorm / GELU (layers.compiled) is one kernel: its inputs and
  outputs count once, its body is not entered."""
  x = 8 * 16 * 4
  with compiled.compiled_elementwise():
    count = complexity.count_bytes(lambda t: compiled.gelu(t), [_spec(8, 16)])
  assert (count.counted, count.skipped_ops) == (x + x, 0)


def test_combined_floor_adds_matmul_and_memory_terms():
  assert timing.compute_floor(1e9, 100.0) == pytest.approx(0.02)
  assert timing.memory_floor(1e9, 10.0) == pytest.approx(0.1)
  assert timing.combined_floor(1e9, 1e9, 100.0, 10.0) == pytest.approx(0.12)


def test_memory_bandwidth_counts_bytes_as_graph_bytes_does():
  measured = timing.memory_bandwidth(1, repeats=2, warmup=0)
  assert measured["gbps"] > 0 and len(measured["samples_gbps"]) == 2
  n = 2 ** 20 // 4
  assert measured["bytes"] == complexity.count_bytes(timing.scale_shift, [_spec(n)]).counted


@pytest.mark.slow
def test_stage_bytes_cover_every_stage(conv_hyperprior):
  conv_hyperprior.prepare_for_compression()
  counts = complexity.stage_bytes(conv_hyperprior, 64, 64)
  assert set(counts) == set(timing.ALL_STAGES)
  assert all(counts[s].counted > 0 for s in counts)
  assert counts["g_a"].unknown_tensors == 0 and counts["g_s"].unknown_tensors == 0
  assert counts["z_decoding"].unknown_tensors > 0  # z's size is a tensor argument


def _run(script: str, *args: str) -> str:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.run([sys.executable, str(REPO / "experiments" / script), *args], cwd=REPO,
                        env=env, capture_output=True, text=True, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


@pytest.mark.slow
def test_benchmark_binary(tmp_path):
  """Random-weight configs (with suffixes) and a shipped model with its trained weights."""
  from tfc_swin import zoo  # pylint: disable=import-outside-toplevel
  default = zoo.default()
  shipped = f"zoo:{default['model']}/{default['version']}/q{default['quality']}"
  Image.fromarray(np.full((40, 56, 3), 100, np.uint8)).save(tmp_path / "a.png")
  output = tmp_path / "cpu.md"
  _run("benchmark.py", "--models", f"conv-charm-tiny,conv-charm-tiny@plain@float32,{shipped}",
       "--height", "64", "--width", "64", "--repeats", "1", "--warmup", "0", "--gflops_size", "64",
       "--bandwidth_mib", "1", "--images", str(tmp_path), "--output", str(output))
  record, float32, trained = json.loads(output.with_suffix(".json").read_text())["records"]
  assert (record["model"], record["images"]) == ("conv-charm-tiny", ["a.png"])
  assert float32["model"] == "conv-charm-tiny@plain@float32" and float32["checksum_match"]
  assert trained["model"] == shipped and trained["checksum_match"]
  assert "Random (untrained) weights, except `zoo:` models" in output.read_text()
  assert set(record["encode"]) == set(timing.ENCODE_STAGES) and record["checksum_match"]
  assert set(record["decode"]) == set(timing.DECODE_STAGES)
  assert record["encode_sum"] == pytest.approx(sum(record["encode"].values()))
  assert record["gbps"] > 0 and set(record["memory_bytes"]) == set(timing.ALL_STAGES)
  assert "## 64x64" in output.read_text() and "### Floors (ms)" in output.read_text()
  assert set(record["range_coding"]) == {"y_encode", "y_decode"}
  assert "### Entropy coding (ms)" in output.read_text()


@pytest.mark.slow
def test_train_step_cost_binary(tmp_path):
  output = tmp_path / "steps.json"
  output.write_text("[]")
  _run("train_step_cost.py", "--model", "conv-hyperprior-tiny", "--patch_size", "64",
       "--batch_size", "2", "--steps", "1", "--threads", "1", "--recompute",
       "--profile_top", "3", "--memory_top", "4", "--output", str(output))
  [record] = json.loads(output.read_text())
  assert record["recompute"] and record["model"] == "conv-hyperprior-tiny"
  assert record["step_s"] > 0 and record["floor_ratio"] > 0 and record["peak_rss_gb"] > 0.1
  assert len(record["op_self_s"]) == 3 and record["op_self_total_s"] > 0
  assert sum(record["op_self_s"].values()) <= record["op_self_total_s"] + 1e-3
  assert record["allocator"] == "bfc" and 0 < record["live_peak_gb"] < record["peak_rss_gb"]
  assert len(record["live_at_peak_mib"]) == 4
  assert sum(record["live_at_peak_mib"].values()) <= record["live_peak_gb"] * 1024 + 1.0


def test_live_at_peak_counts_the_tensors_alive_at_the_peak():
  """The peak is the most bytes in use at once; only tensors alive then are listed, grouped
  over Swin stages and blocks; freed addresses can be reused."""
  events = [(0, 1, 100, "g_a/stage0/block0/fc1"), (1, 2, 50, "g_a/stage1/block1/fc1"),
            (2, 1, -100, "(null)"), (3, 1, 120, "g_s/stage0/block0/fc1"),
            (4, 3, 30, "x"), (5, 3, -30, "(null)"), (6, 2, -50, "(null)")]
  peak, groups = trace.live_at_peak(events)
  assert peak == 200
  assert groups == {"g_s/stage*/block*/fc1": 120, "g_a/stage*/block*/fc1": 50, "x": 30}


@pytest.mark.slow
def test_fused_ops_cost_binary(tmp_path):
  output = tmp_path / "ops.json"
  _run("fused_ops_cost.py", "--tokens", "512", "--channels", "32", "--window", "4",
       "--repeats", "1", "--threads", "1", "--output", str(output))
  [record] = json.loads(output.read_text())
  assert len(record["ops"]) == 12 and record["machine_gbps"] > 0
  assert all(r["ms"] > 0 and r["bytes"] > 0 for r in record["ops"])


def test_op_self_times_subtract_nested_events():
  """A call's self time excludes the ops nested in it; events of other threads do not mix."""
  totals = trace.event_self_times([(0, 100, "f:PartitionedCall"), (10, 30, "a:MatMul"),
                                   (40, 90, "b:MatMul"), (100, 120, "c:Mul")])
  assert totals == {"PartitionedCall": 30, "MatMul": 70, "Mul": 20}
