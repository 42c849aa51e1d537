"""Model complexity: parameters, multiply-accumulates (MACs) and peak memory per codec module.

MACs are counted from the TF graph profiler (``tf.compat.v1.profiler.profile`` with
``ProfileOptionBuilder.float_operation()``) on a concrete function of each module traced at the
exact input shape; MACs = FLOPs / 2 of the multiply-accumulate op types. Per module they are
split into (see docs/complexity.md):

* ``linear_conv``: Dense (MatMul) and convolutions, except GDN; a transposed (upsampling)
  convolution counts at its upsampled output resolution, as in the paper's Tables 3-4;
* ``gdn``: the 1x1 convolution inside GDN / inverse GDN;
* ``attention``: batched matmuls, i.e. window attention QK^T and AV;
* ``transposed_zeros``: the part of ``linear_conv`` that multiplies the zeros a transposed
  convolution inserts (TF computes a stride-s transposed conv with s^2 times fewer MACs);
* ``other_flops``: every other FLOP the profiler knows (bias, elementwise, softmax, LayerNorm,
  GELU, rescaling), reported separately and never added to MACs.

P-frame video codecs (:func:`profile_video_codec`): the same counts per part (I-frame, flow and
residual codecs) plus the scale-space warp, summed per coding call (:func:`video_stages`).

Memory traffic (:func:`graph_bytes`, :func:`stage_bytes`): the bytes the other ops of a coding
stage's graph read and write, for the memory term of the benchmark's floor.

Peak memory is the growth of the resident set size while one ``compress`` / ``decompress``
call runs in a fresh subprocess (after a traced warm-up call).
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

from tfc_swin.codecs import PAD_MULTIPLE, ImageCodec, build_codec, build_video_codec, round_up
from tfc_swin.codecs.video import PARTS, PFrameCodec
from tfc_swin.eval.tables import markdown_table
from tfc_swin.profiling.timing import codec_stages, synthetic_image

#: Op types whose profiler FLOPs are 2 x multiply-accumulates.
MAC_OP_TYPES = ("Conv2D", "Conv2DBackpropInput", "DepthwiseConv2dNative", "MatMul",
                "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
_ATTENTION_OP_TYPES = ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
_GDN_NAME = re.compile(r"(^|/)i?gdn\d*/")
#: Op types that move no tensor data: constants, inputs, variable reads, aliases, metadata,
#: and reshapes (TF's Reshape, Squeeze and ExpandDims share their input's buffer).
FREE_OP_TYPES = frozenset({
    "Const", "Placeholder", "ReadVariableOp", "VarHandleOp", "Identity", "IdentityN",
    "StopGradient", "NoOp", "Shape", "ShapeN", "Size", "Rank", "Reshape", "Squeeze",
    "ExpandDims"})
#: Control flow and function calls: :func:`graph_bytes` does not enter their bodies.
CALL_OP_TYPES = frozenset({
    "If", "StatelessIf", "Case", "StatelessCase", "While", "StatelessWhile",
    "PartitionedCall", "StatefulPartitionedCall"})

#: Modules in the order of the paper's tables; ``charm`` is the sum of the prior's networks.
MODULES = ("g_a", "h_a", "h_s", "charm", "g_s")
ENCODER_MODULES = ("g_a", "h_a", "h_s", "charm")
DECODER_MODULES = ("h_s", "charm", "g_s")
#: AICT's scale-adaptation networks (Ghorbel et al. 2023 sec. 3.3), run at the full image size:
#: the resize network and the pre-processor in the encoder, the post-processor in the decoder.
SCALE_ENCODER_MODULES = ("resize_net", "pre_processor")
SCALE_DECODER_MODULES = ("post_processor",)

#: Zhu et al. 2022 Tables 3-4 (768x512, GPU): GMACs and peak GPU memory (GB). Parameters: the
#: configs' ``paper_params_m``.
PAPER_COMPLEXITY = {
    "conv-hyperprior": dict(encode_gmacs=102, decode_gmacs=350, encode_memory_gb=0.62,
                            decode_memory_gb=0.50),
    "conv-charm": dict(encode_gmacs=114, decode_gmacs=362, encode_memory_gb=0.66,
                       decode_memory_gb=0.53),
    "swint-hyperprior": dict(encode_gmacs=100, decode_gmacs=99, encode_memory_gb=1.47,
                             decode_memory_gb=1.44),
    "swint-charm": dict(encode_gmacs=112, decode_gmacs=111, encode_memory_gb=1.51,
                        decode_memory_gb=1.47),
}


@dataclasses.dataclass
class MacCount:
  """Multiply-accumulates of one module, by kind (see the module docstring)."""
  linear_conv: int = 0
  gdn: int = 0
  attention: int = 0
  transposed_zeros: int = 0
  other_flops: int = 0

  @property
  def paper(self) -> int:
    """The paper's convention: Dense/conv incl. GDN, no attention matmuls."""
    return self.linear_conv + self.gdn

  @property
  def total(self) -> int:
    """All multiply-accumulates, attention included."""
    return self.paper + self.attention

  @property
  def effective(self) -> int:
    """MACs TF actually executes: ``total`` without the transposed-conv zero insertion."""
    return self.total - self.transposed_zeros

  def __add__(self, other: "MacCount") -> "MacCount":
    return MacCount(*(a + b for a, b in zip(dataclasses.astuple(self),
                                            dataclasses.astuple(other))))

  def to_dict(self) -> dict[str, int]:
    return {**dataclasses.asdict(self), "paper": self.paper, "total": self.total,
            "effective": self.effective}


def _profiled_flops(graph: tf.Graph) -> dict[str, tuple[str, int]]:
  """Node name -> (op type, FLOPs) from the TF profiler's op view."""
  builder = tf.compat.v1.profiler.ProfileOptionBuilder
  options = builder(builder.float_operation()).with_empty_output().build()
  root = tf.compat.v1.profiler.profile(graph, cmd="op", options=options)
  flops, stack = {}, [root]
  while stack:  # the op view nests each op type under the previous one
    node = stack.pop()
    for child in node.children:
      for graph_node in child.graph_nodes:
        flops[graph_node.name] = (child.name, int(graph_node.float_ops))
      stack.append(child)
  return flops


def _traced_graph(fn: Callable[..., Any], input_specs: Sequence[Any]) -> tf.Graph:
  """The graph of ``fn`` (a tf.function is traced as it is, not wrapped) at ``input_specs``."""
  if not isinstance(fn, tf.types.experimental.GenericFunction):
    fn = tf.function(fn)
  return fn.get_concrete_function(*input_specs).graph


def count_macs(fn: Callable[..., Any], input_specs: Sequence[tf.TensorSpec]) -> MacCount:
  """Traces ``fn`` at ``input_specs`` (fully defined shapes) and counts its MACs."""
  graph = _traced_graph(fn, input_specs)
  flops = _profiled_flops(graph)
  count = MacCount()
  for op in graph.get_operations():
    if op.type not in MAC_OP_TYPES:
      if op.name in flops:
        count.other_flops += flops[op.name][1]
      continue
    if op.name not in flops:
      raise ValueError(f"the profiler did not count {op.type} {op.name!r} (unknown shape?)")
    macs = flops[op.name][1] // 2
    if op.type in _ATTENTION_OP_TYPES:
      count.attention += macs
    elif _GDN_NAME.search(op.name):
      count.gdn += macs
    else:
      if op.type == "Conv2DBackpropInput":  # TF counts it at the input (low) resolution
        strides = op.get_attr("strides")
        zeros = macs * (strides[1] * strides[2] - 1)
        count.transposed_zeros += zeros
        macs += zeros
      count.linear_conv += macs
  return count


def latent_shapes(codec: ImageCodec, height: int, width: int) -> dict[str, list[int]]:
  """Tensor shapes (batch 1) a codec sees for a ``height x width`` image (padded to 64); x has
  the transform's input channels (6 for the SSF flow codec)."""
  h, w = round_up(height, PAD_MULTIPLE), round_up(width, PAD_MULTIPLE)
  c, hc = codec.config.latent_channels, codec.config.hyper_channels
  return {"x": [1, h, w, codec.config.transform.in_channels], "y": [1, h // 16, w // 16, c],
          "z": [1, h // 64, w // 64, hc], "params": [1, h // 16, w // 16, 2 * c]}


def module_macs(codec: ImageCodec, height: int, width: int) -> dict[str, MacCount]:
  """MACs of g_a, h_a, h_s, the ChARM networks (``charm``) and g_s at ``height x width``.

  ``charm`` traces the prior's forward pass (slice networks plus elementwise entropy-model
  ops); it is zero for the mean-scale hyperprior, which has no networks.
  """
  shapes = latent_shapes(codec, height, width)
  spec = {k: tf.TensorSpec(v, tf.float32) for k, v in shapes.items()}
  macs = {
      "g_a": count_macs(codec.g_a, [spec["x"]]),
      "h_a": count_macs(codec.h_a, [spec["y"]]),
      "h_s": count_macs(codec.h_s, [spec["z"]]),
      "charm": count_macs(lambda y, p: codec.prior.forward(y, p, False)[0],
                          [spec["y"], spec["params"]]),
      "g_s": count_macs(codec.g_s, [spec["y"]]),
  }
  image = tf.TensorSpec([1, height, width, 3], tf.float32)
  for name in scale_modules(codec):
    macs[name] = count_macs(getattr(codec, name), [image])
  return macs


def scale_modules(codec: ImageCodec) -> tuple[str, ...]:
  """The scale-adaptation networks of an AICT codec (none for the others).

  Their MACs are at the full image size; the transforms' are counted at s = 1 (the module
  skipped), an upper bound: at s < 1 the inner codec codes a canvas of about s^2 the pixels.
  """
  names = SCALE_ENCODER_MODULES + SCALE_DECODER_MODULES
  return names if all(hasattr(codec, n) for n in names) else ()


def encoder_modules(macs: dict[str, Any]) -> tuple[str, ...]:
  return ENCODER_MODULES + tuple(n for n in SCALE_ENCODER_MODULES if n in macs)


def decoder_modules(macs: dict[str, Any]) -> tuple[str, ...]:
  return DECODER_MODULES + tuple(n for n in SCALE_DECODER_MODULES if n in macs)


def module_parameters(codec: ImageCodec) -> dict[str, int]:
  """Trainable parameters per module; they sum to ``codec.count_parameters()``."""
  return {"g_a": codec.count_parameters(codec.g_a), "h_a": codec.count_parameters(codec.h_a),
          "h_s": codec.count_parameters(codec.h_s),
          "charm": codec.count_parameters(codec.prior),
          "g_s": codec.count_parameters(codec.g_s),
          "entropy_bottleneck": codec.count_parameters(codec.hyperprior),
          **{n: codec.count_parameters(getattr(codec, n)) for n in scale_modules(codec)}}


def _sum(macs: dict[str, MacCount], names: Sequence[str]) -> MacCount:
  return sum((macs[n] for n in names), MacCount())


# -- memory traffic -------------------------------------------------------------------------------
@dataclasses.dataclass
class ByteCount:
  """Bytes the non-matmul ops of a graph read and write (``counted``), and what was left out:
  ``unknown_tensors`` (size not static) and ``skipped_ops`` (bodies not entered); see
  :func:`graph_bytes`."""
  counted: int = 0
  unknown_tensors: int = 0
  skipped_ops: int = 0


def _tensor_bytes(tensor: tf.Tensor) -> int | None:
  """dtype size x elements; 0 for resource / variant handles; None if the size is unknown."""
  if tensor.dtype in (tf.resource, tf.variant):
    return 0
  if tensor.dtype == tf.string or not tensor.shape.is_fully_defined():
    return None
  return tensor.dtype.size * tensor.shape.num_elements()


def _xla_fused(op: tf.Operation) -> bool:
  """A call of a ``jit_compile`` function (the fused LayerNorm / GELU of
  :mod:`tfc_swin.layers.compiled`): one XLA kernel, counted like one op."""
  try:
    return bool(op.get_attr("_XlaMustCompile"))
  except ValueError:
    return False


def graph_bytes(graph: tf.Graph) -> ByteCount:
  """Sum of dtype size x elements of every input and output of every op of ``graph`` except
  :data:`MAC_OP_TYPES` (their cost is the matmul floor), :data:`FREE_OP_TYPES` and
  :data:`CALL_OP_TYPES`.

  A tensor read by n counted ops counts n times, plus once as a counted op's output; resource
  and variant handles count 0. This is the traffic of the traced graph run op by op, each op
  reading its inputs from and writing its outputs to memory once; not a strict lower bound:
  TF's graph optimizer removes or fuses some ops (e.g. zero-width pads), ops may write in
  place, and caches serve some reads. ``unknown_tensors``: inputs and outputs without a static
  shape or of variable size (strings), left out, not guessed. ``skipped_ops``:
  :data:`CALL_OP_TYPES` ops; their bodies (loops included) are left out, except calls of XLA
  ``jit_compile`` functions, each one fused kernel: counted as one op (inputs and outputs).
  """
  count = ByteCount()
  for op in graph.get_operations():
    if op.type in CALL_OP_TYPES and not _xla_fused(op):
      count.skipped_ops += 1
    elif op.type not in FREE_OP_TYPES and op.type not in MAC_OP_TYPES:
      for tensor in (*op.inputs, *op.outputs):
        size = _tensor_bytes(tensor)
        if size is None:
          count.unknown_tensors += 1
        else:
          count.counted += size
  return count


def count_bytes(fn: Callable[..., Any], input_specs: Sequence[Any]) -> ByteCount:
  """Traces ``fn`` at ``input_specs`` and counts its :func:`graph_bytes`."""
  return graph_bytes(_traced_graph(fn, input_specs))


def stage_specs(codec: ImageCodec, height: int, width: int) -> dict[str, list[Any]]:
  """Input specs of each stage of :func:`tfc_swin.profiling.timing.codec_stages` (batch 1), as
  the benchmark calls them; z decoding gets z's size as a tensor, so its shapes are not static."""
  spec = {k: tf.TensorSpec(v, tf.float32) for k, v in latent_shapes(codec, height, width).items()}
  string = tf.TensorSpec([1], tf.string)
  return {"g_a": [spec["x"]], "h_a": [spec["y"]], "z_coding": [spec["z"]], "h_s": [spec["z"]],
          "y_coding": [spec["y"], spec["params"]],
          "z_decoding": [string, tf.TensorSpec([2], tf.int32)],
          "y_decoding": [[string] * codec.prior.num_strings, spec["params"]],
          "g_s": [spec["y"]]}


def stage_bytes(codec: ImageCodec, height: int, width: int) -> dict[str, ByteCount]:
  """:func:`graph_bytes` of each coding stage's graph at ``height x width`` (needs
  ``codec.prepare_for_compression()``)."""
  stages = codec_stages(codec)
  return {name: count_bytes(stages[name], specs)
          for name, specs in stage_specs(codec, height, width).items()}


# -- peak memory ----------------------------------------------------------------------------------
def _status_bytes(field: str) -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) * 1024
  raise KeyError(field)


def peak_rss_bytes() -> int:
  """This process's peak resident memory so far (VmHWM)."""
  return _status_bytes("VmHWM")


def _reset_peak_rss() -> bool:
  """Resets VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return True
  except OSError:
    return False


def _malloc_trim() -> None:
  try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
  except (OSError, AttributeError):
    pass


def peak_rss_growth(fn: Callable[[], Any]) -> tuple[Any, int, str]:
  """Runs ``fn`` once; returns (its result, peak RSS growth in bytes, method).

  method ``VmHWM``: the high-water mark was reset before the call, so the growth is exact;
  ``ru_maxrss``: fallback, under-reports if the process peaked higher before the call.
  """
  _malloc_trim()
  reset = _reset_peak_rss()
  before = _status_bytes("VmRSS")
  result = fn()
  if reset:
    return result, max(0, _status_bytes("VmHWM") - before), "VmHWM"
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  return result, max(0, peak - before), "ru_maxrss"


def coding_peak_memory(encode: Callable[[], Any], decode: Callable[[Any], Any],
                       weights_bytes: int) -> dict[str, Any]:
  """In the current (fresh) process: peak RSS growth of one ``encode()`` and one
  ``decode(encoded)`` call, each after an untimed call that traces and warms up."""
  encoded = encode()
  baseline = _status_bytes("VmRSS")
  encoded, encode_bytes, method = peak_rss_growth(encode)
  decode(encoded)
  _, decode_bytes, _ = peak_rss_growth(lambda: decode(encoded))
  return {"encode_bytes": encode_bytes, "decode_bytes": decode_bytes,
          "baseline_rss_bytes": baseline, "weights_bytes": weights_bytes, "method": method}


def memory_child(config_name: str, height: int, width: int) -> dict[str, Any]:
  """In the current (fresh) process: peak RSS growth of one compress and one decompress."""
  codec = build_codec(config_name)
  codec.prepare_for_compression()
  image = tf.constant(synthetic_image(height, width))
  return coding_peak_memory(lambda: codec.compress(image),
                            lambda e: codec.decompress(e["strings"], e["shape"]),
                            4 * codec.count_parameters())


def memory_child_env(mmap_threshold: int = 65536) -> dict[str, str]:
  """Environment of a memory-measuring child process.

  glibc is told to serve allocations above ``mmap_threshold`` bytes with mmap
  (``MALLOC_MMAP_THRESHOLD_``), so freed tensors leave the resident set and the warm-up call
  does not hide the measured call's peak. oneDNN is off in the child
  (``TF_ENABLE_ONEDNN_OPTS=0``): TF turns it on by default on CPUs with AVX512_VNNI / AMX, and
  its pooled CPU allocator keeps the warm-up call's buffers, so the measured call's growth
  would read near zero (0.03-0.07 GB instead of 0.46-0.49 GB for paper-size SwinT-ChARM on
  such a CPU). The tensors, hence the peak, are the same either way.
  """
  repo = str(Path(__file__).resolve().parents[2])
  return dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(mmap_threshold), TF_ENABLE_ONEDNN_OPTS="0",
              TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
              PYTHONPATH=os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))


def measure_peak_memory(config_name: str, height: int, width: int,
                        mmap_threshold: int = 65536) -> dict[str, Any]:
  """Runs :func:`memory_child` in a subprocess (:func:`memory_child_env`) and returns its
  result."""
  code = ("import json, sys; from tfc_swin.profiling.complexity import memory_child; "
          "print(json.dumps(memory_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))")
  proc = subprocess.run([sys.executable, "-c", code, config_name, str(height), str(width)],
                        env=memory_child_env(mmap_threshold), capture_output=True, text=True,
                        check=False)
  if proc.returncode:
    raise RuntimeError(f"memory measurement of {config_name} failed:\n{proc.stderr[-2000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


# -- whole codec ----------------------------------------------------------------------------------
def _module_profile(codec: ImageCodec, macs: dict[str, MacCount]) -> dict[str, Any]:
  """Parameters and MACs per module, encoder and decoder MACs of an image codec."""
  return {"parameters": module_parameters(codec), "total_parameters": codec.count_parameters(),
          "macs": {k: v.to_dict() for k, v in macs.items()},
          "encode_macs": _sum(macs, encoder_modules(macs)).to_dict(),
          "decode_macs": _sum(macs, decoder_modules(macs)).to_dict()}


def profile_codec(config_name: str, height: int, width: int,
                  memory: bool = True) -> dict[str, Any]:
  """Parameters, MACs per module, encoder/decoder MACs and (optionally) peak memory."""
  codec = build_codec(config_name)
  result = {
      "model": config_name, "family": codec.config.family, "height": height, "width": width,
      **_module_profile(codec, module_macs(codec, height, width)),
      "paper": PAPER_COMPLEXITY.get(config_name),
      "paper_params_m": codec.config.paper_params_m,
  }
  if memory:
    result["memory"] = measure_peak_memory(config_name, height, width)
  return result


# -- P-frame video codecs -------------------------------------------------------------------------
#: Coding calls of :class:`~tfc_swin.codecs.video.PFrameCodec` (Zhu et al. 2022 sec. 3.2, App.
#: A.2) -> the parts they run; "warp" is the scale-space warp. Which modules of a part run is in
#: :func:`video_stages`.
VIDEO_STAGES = {"iframe_encode": ("iframe",), "iframe_decode": ("iframe",),
                "pframe_encode": ("flow", "warp", "residual"),
                "pframe_decode": ("flow", "warp", "residual")}


def video_stages(macs: dict[str, dict[str, MacCount]]) -> dict[str, dict[str, tuple[str, ...]]]:
  """Stage -> part -> modules run, as ``PFrameCodec._compress_* / _decompress_*`` run them.

  An encoder decodes its own strings (``decode_canvas``: h_s a second time, the prior's
  decoding, g_s) for the prediction and for the reconstruction that is the next reference
  (low-delay P), so it runs the part's encoder and decoder modules; the I frame likewise.
  """
  def run(part: str, encode: bool) -> tuple[str, ...]:
    if part == "warp":
      return ("warp",)
    decoder = decoder_modules(macs[part])
    return encoder_modules(macs[part]) + decoder if encode else decoder
  return {stage: {part: run(part, stage.endswith("encode")) for part in parts}
          for stage, parts in VIDEO_STAGES.items()}


def warp_macs(codec: PFrameCodec, height: int, width: int) -> MacCount:
  """MACs of the scale-space warp of a padded ``height x width`` frame.

  The Gaussian blurs of the scale-space volume are 1-D convolutions (``linear_conv``: per
  pixel and channel 2 x the taps of the M blurred levels); the trilinear sampling is gathers
  and elementwise interpolation (``other_flops``, not MACs).
  """
  shape = [1, round_up(height, PAD_MULTIPLE), round_up(width, PAD_MULTIPLE), 3]
  frame = tf.TensorSpec(shape, tf.float32)  # the reference; the flow field has 3 channels too
  return count_macs(codec.warp, [frame, frame])


def profile_video_codec(codec: PFrameCodec | str, height: int, width: int) -> dict[str, Any]:
  """Parameters and MACs per part and module, and the MACs of coding an I frame and a P frame
  (:func:`video_stages`) of a video codec or video config name (Zhu et al. 2022 sec. 3.2, App.
  A.2, which give no complexity figures for them). No peak memory."""
  if isinstance(codec, str):
    codec = build_video_codec(codec)
  macs = {part: module_macs(getattr(codec, part), height, width) for part in PARTS}
  macs["warp"] = {"warp": warp_macs(codec, height, width)}
  stages = video_stages(macs)
  return {
      "model": codec.config.name, "kind": "video", "family": codec.config.family,
      "height": height, "width": width, "iframe_config": codec.config.iframe,
      "parts": {p: _module_profile(getattr(codec, p), macs[p]) for p in PARTS},
      "warp_macs": macs["warp"]["warp"].to_dict(), "parameters": codec.count_parameters(),
      "stages": stages,
      "coding_macs": {stage: sum((_sum(macs[part], modules) for part, modules in run.items()),
                                 MacCount()).to_dict() for stage, run in stages.items()},
      "paper": None}


def _g(count: float) -> str:
  """Giga-units: two decimals, or three significant digits below 1."""
  value = count / 1e9
  return f"{value:.2f}" if value >= 1 or value == 0 else f"{value:.3g}"


def _paper(result: dict[str, Any], key: str, fmt: str = "{}") -> str:
  paper = result.get("paper")
  return fmt.format(paper[key]) if paper else "–"


def _summary_row(r: dict[str, Any]) -> list[str]:
  enc, dec, mem = r["encode_macs"], r["decode_macs"], r.get("memory")
  return [r["model"], f"{r['total_parameters'] / 1e6:.2f}", r["paper_params_m"] or "–",
          _g(enc["paper"]), _g(enc["total"]), _paper(r, "encode_gmacs"),
          _g(dec["paper"]), _g(dec["total"]), _paper(r, "decode_gmacs"),
          f"{mem['encode_bytes'] / 1e9:.2f}" if mem else "–", _paper(r, "encode_memory_gb"),
          f"{mem['decode_bytes'] / 1e9:.2f}" if mem else "–", _paper(r, "decode_memory_gb")]


def _module_rows(r: dict[str, Any]) -> list[list[str]]:
  rows = []
  for name in r["macs"]:
    m = r["macs"][name]
    rows.append([r["model"], "ChARM / prior" if name == "charm" else name,
                 f"{r['parameters'][name] / 1e6:.3f}", _g(m["paper"]), _g(m["attention"]),
                 _g(m["gdn"]), _g(m["transposed_zeros"]), _g(m["other_flops"])])
  return rows + [[r["model"], "entropy bottleneck",
                  f"{r['parameters']['entropy_bottleneck'] / 1e6:.3f}", 0, 0, 0, 0, "–"]]


def markdown_report(results: Sequence[dict[str, Any]]) -> str:
  """Markdown tables: image codecs (summary vs the paper, then per module), then video codecs
  (:func:`profile_video_codec`)."""
  images = [r for r in results if r.get("kind") != "video"]
  videos = [r for r in results if r.get("kind") == "video"]
  sections = ["\n".join(report(rs)) for report, rs in ((_image_report, images),
                                                      (_video_report, videos)) if rs]
  return "\n\n".join(sections) + "\n" if sections else ""


def _image_report(results: Sequence[dict[str, Any]]) -> list[str]:
  size = f"{results[0]['width']}x{results[0]['height']}"
  lines = [
      f"## Complexity at {size} (width x height, batch 1)", "",
      "GMACs: Dense/conv MACs incl. GDN, transposed convs at the upsampled resolution, no "
      "attention matmuls (the paper's convention); `+attn` adds window-attention QK^T/AV. "
      "Encoder = g_a + h_a + h_s + ChARM, decoder = h_s + ChARM + g_s. Memory: peak RSS growth "
      "of one compress / decompress call on CPU, weights excluded (paper: peak GPU memory).", "",
      markdown_table(["Model", "Params (M)", "paper", "Enc GMACs", "+attn", "paper",
                      "Dec GMACs", "+attn", "paper", "Enc mem (GB)", "paper", "Dec mem (GB)",
                      "paper"], [_summary_row(r) for r in results]),
      "", "### Per module", "",
      "Params in M; GMACs (paper convention) with attention, GDN and transposed-conv zero MACs "
      "broken out (all included in GMACs except attention); other GFLOPs (bias, elementwise, "
      "softmax, LayerNorm, GELU) are not MACs and not included anywhere else. The entropy "
      "bottleneck codes z with precomputed CDF tables: no network MACs.", "",
      markdown_table(["Model", "Module", "Params (M)", "GMACs", "attn GMACs", "GDN GMACs",
                      "transp. zeros GMACs", "other GFLOPs"],
                     [row for r in results for row in _module_rows(r)])]
  mems = [(r["model"], r["memory"]) for r in results if r.get("memory")]
  if mems:
    lines += ["", "### Peak memory detail (MB)", "",
              markdown_table(["Model", "encode growth", "decode growth",
                              "RSS before (model loaded, traced)", "weights", "method"],
                             [[model, f"{m['encode_bytes'] / 1e6:.0f}",
                               f"{m['decode_bytes'] / 1e6:.0f}",
                               f"{m['baseline_rss_bytes'] / 1e6:.0f}",
                               f"{m['weights_bytes'] / 1e6:.0f}", m["method"]]
                              for model, m in mems])]
  return lines


def _video_row(r: dict[str, Any]) -> list[str]:
  params, coding = r["parameters"], r["coding_macs"]
  return [r["model"], *(f"{params[k] / 1e6:.2f}" for k in (*PARTS, "total")),
          *(g for stage in VIDEO_STAGES for g in (_g(coding[stage]["paper"]),
                                                   _g(coding[stage]["total"]))),
          _g(r["warp_macs"]["paper"])]


def _video_module_rows(r: dict[str, Any]) -> list[list[str]]:
  rows = [row for part in PARTS
          for row in _module_rows({**r["parts"][part], "model": f"{r['model']} / {part}"})]
  warp = r["warp_macs"]
  return rows + [[f"{r['model']} / warp", "scale-space warp", "0", _g(warp["paper"]), 0, 0, 0,
                  _g(warp["other_flops"])]]


def _video_report(results: Sequence[dict[str, Any]]) -> list[str]:
  size = f"{results[0]['width']}x{results[0]['height']}"
  return [
      f"## Video codecs (P frames) at {size} (width x height, batch 1)", "",
      "Zhu et al. 2022 give no parameter counts or GMACs for the video codecs (sec. 3.2, "
      "App. A.2): nothing to compare with. GMACs as for the image codecs (paper convention, "
      "`+attn` with attention). I frame: the I-frame codec's encoder + decoder to encode (the "
      "encoder decodes the frame, the next reference), its decoder to decode. P frame, encode: "
      "flow and residual codecs' encoder + decoder (h_s twice: the encoder decodes its own "
      "strings for the prediction and the reference) + warp; decode: flow and residual h_s + "
      "g_s + warp. Warp: the Gaussian blurs of the scale-space volume (1-D convolutions, in "
      "the P-frame GMACs); its trilinear sampling is not MACs (other GFLOPs). No peak memory.",
      "", markdown_table(["Model", "I-frame params (M)", "flow", "residual", "total",
                          "I enc GMACs", "+attn", "I dec GMACs", "+attn", "P enc GMACs",
                          "+attn", "P dec GMACs", "+attn", "warp GMACs"],
                         [_video_row(r) for r in results]),
      "", "### Video codecs per part and module", "",
      markdown_table(["Model / part", "Module", "Params (M)", "GMACs", "attn GMACs",
                      "GDN GMACs", "transp. zeros GMACs", "other GFLOPs"],
                     [row for r in results for row in _video_module_rows(r)])]


def as_json(results: Sequence[dict[str, Any]]) -> str:
  """JSON text of profile results (numpy scalars converted)."""
  return json.dumps(list(results), indent=1, default=lambda o: o.item()
                    if isinstance(o, np.generic) else str(o))
