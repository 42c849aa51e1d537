"""AICT: scale adaptation around an image codec (Ghorbel et al. 2023, sec. 3.3, Fig. 2-3).

    s = RPN(x);  x_d = down(pre(x), s);  x_d is coded by the inner ImageCodec (ICT);
    x_hat = post(up(x_hat_d, s))

with the :class:`~tfc_swin.layers.ResizeParameterNetwork` (s in (min_scale, 1)), two
:class:`~tfc_swin.layers.ConvNeXtProcessor` and the :class:`~tfc_swin.layers.BicubicResampler`.

Canvas. The inner codec codes a canvas of :func:`~tfc_swin.layers.scaled_size` ``(H, W, s,
64)``: ``ceil(s H) x ceil(s W)`` padded up to multiples of 64. The down-scaler centres the
shrunk image in it (the border replicates the edges) and the up-scaler reads the image part
back, so any image size works and encode / decode time fall with s.

Scale code (the file). ``compress`` keeps :class:`ImageCodec`'s signatures; its first string
is ONE byte, the scale code k, followed by the inner codec's strings (``num_strings`` = 1 +
inner). s is quantized to the grid ``s_k = min_scale + (1 - min_scale) (k - 1) / (L - 1)``,
k = 1..L (L = ``scale_levels``, s_L = 1), nearest level. Code 0 means the resampling is
skipped (paper 3.3): the grid level is >= ``skip_above`` (or s is not finite) and the
pre-processed image is coded at full size by the inner codec, then post-processed. The
processors stay because training always runs them (below): skipping them too left every Kodak
image 2.7 dB worse with trained weights (docs/aict.md). Fresh processors are the identity, so
then a code-0 file is exactly the inner codec's file. Only codes 0..K, K the last level below
``skip_above``, are ever written; ``decompress`` refuses a first string that is not one byte
with such a code (InvalidArgumentError). Encoder and decoder read s_k from the same table, so
they use identical values and canvases. ``index_checksum`` and ``slice_checksums`` are
the inner codec's.

Training (``__call__``) is differentiable in s and never skips: s is snapped to the grid with
a straight-through gradient; a batch shares one canvas, :func:`scaled_size` of the largest s
(for one image, exactly the inference canvas), and each image is resampled with its own s.
The rate is the inner codec's bits of that canvas per ORIGINAL pixel (``bpp = bits / (H
W)``), so s gets gradients through the distortion (down- and up-scaling) and through the rate
(the content's size within the canvas), not through the integer canvas size.

Checkpoint layout: the inner codec's parts are also direct children (``g_a``, ``g_s``,
``h_a``, ``h_s``, ``hyperprior``, ``prior``, as in an ImageCodec), next to ``resize_net``,
``pre_processor``, ``post_processor`` and ``inner``; :meth:`ScaleAdaptiveCodec.weight_view`
names them, so ``--init_from`` an ICT / SwinT model with the same transforms loads them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from tfc_swin.codecs.base import (IMAGE_SPEC, PAD_MULTIPLE, SHAPE_SPEC, STRINGS_SPEC,
                                  CodingModule, index_checksum, pad_to_multiple, round_up,
                                  slice_checksums, to_uint8)
from tfc_swin.codecs.image import ImageCodec
from tfc_swin.codecs.wrappers import WRAPPERS
from tfc_swin.configs import CodecConfig, ScaleAdaptation
from tfc_swin.layers import (BicubicResampler, ConvNeXtProcessor, ResizeParameterNetwork,
                             scaled_size)

_CODE_SPEC = tf.TensorSpec([], tf.int32, name="code")
_SIGNATURE_KEYS = ("strings", "shape", "index_checksum", "slice_checksums")


def scale_grid(adaptation: ScaleAdaptation) -> np.ndarray:
  """float32 s by scale code: ``[1 (skipped), s_1, ..., s_L]`` (see the module docstring)."""
  levels = np.linspace(adaptation.min_scale, 1.0, adaptation.scale_levels)
  return np.concatenate([[1.0], levels]).astype(np.float32)


def max_code(adaptation: ScaleAdaptation) -> int:
  """K: the largest scale code a file may carry (the last level below ``skip_above``)."""
  return int(np.sum(scale_grid(adaptation)[1:] < adaptation.skip_above))


def file_scale(adaptation: ScaleAdaptation, first_string: bytes) -> float:
  """The s an AICT file's first string carries (1.0: module skipped), e.g. for ``tfc-swin
  info``; ValueError unless it is a valid one-byte scale code."""
  if len(first_string) != 1 or first_string[0] > max_code(adaptation):
    raise ValueError(f"bad scale code {first_string!r} (one byte, 0..{max_code(adaptation)})")
  return float(scale_grid(adaptation)[first_string[0]])


def _graph(fn, *specs: tf.TensorSpec) -> tf.types.experimental.GenericFunction:
  """A tf.function of fixed signature, without AutoGraph (the coding paths have no Python
  control flow on tensors; tf.cond is explicit)."""
  return tf.function(fn, input_signature=list(specs), autograph=False)


def _check(adaptation: ScaleAdaptation) -> None:
  if not 0.0 < adaptation.min_scale < adaptation.skip_above <= 1.0:
    raise ValueError(f"need 0 < min_scale < skip_above <= 1, got {adaptation}")
  if not 2 <= adaptation.scale_levels <= 255:
    raise ValueError(f"scale_levels must be in 2..255 (one byte), got {adaptation}")


@WRAPPERS.register(ScaleAdaptation.kind)
class ScaleAdaptiveCodec(CodingModule):
  """AICT: an :class:`ImageCodec` (``inner``) inside the scale-adaptation module (sec. 3.3)."""

  decompress = ImageCodec.decompress  # The same signature as an ImageCodec's.

  def __init__(self, config: CodecConfig):
    _check(config.wrapper)
    super().__init__(config)
    adaptation = config.wrapper
    self.inner = ImageCodec(dataclasses.replace(
        config, name=f"{config.name}/inner", wrapper=None, paper_params_m=None,
        description=f"inner codec of {config.name}"))
    self.g_a, self.g_s, self.h_a, self.h_s = (self.inner.g_a, self.inner.g_s, self.inner.h_a,
                                              self.inner.h_s)
    self.hyperprior, self.prior = self.inner.hyperprior, self.inner.prior
    self.resize_net = ResizeParameterNetwork(adaptation.resize_widths, adaptation.min_scale,
                                             name="resize_net")
    self.pre_processor = ConvNeXtProcessor(adaptation.processor_width, name="pre_processor")
    self.post_processor = ConvNeXtProcessor(adaptation.processor_width, name="post_processor")
    self.downscale = BicubicResampler("down", name="downscale")
    self.upscale = BicubicResampler("up", name="upscale")
    self._grid = tuple(float(s) for s in scale_grid(adaptation))
    self._max_code = max_code(adaptation)
    self._compress_code = None
    x = tf.zeros([1, 8, 8, 3])  # Creates the module's variables (the inner codec has its own).
    self.resize_net(x)
    self.pre_processor(x)
    self.post_processor(x)

  # -- the scale grid -----------------------------------------------------------------------------
  def scale_from_code(self, code: int | tf.Tensor) -> tf.Tensor:
    """float32 s of scale code(s): 1 for 0 (module skipped), else grid level k."""
    return tf.gather(tf.constant(self._grid, tf.float32), tf.cast(code, tf.int32))

  def _level(self, scale: tf.Tensor) -> tf.Tensor:
    """Nearest grid level 1..L of s (int32)."""
    a = self.config.wrapper
    t = (tf.cast(scale, tf.float32) - a.min_scale) / (1.0 - a.min_scale)
    level = tf.round(tf.clip_by_value(t, 0.0, 1.0) * (a.scale_levels - 1)) + 1.0
    return tf.cast(level, tf.int32)

  def code_from_scale(self, scale: float | tf.Tensor) -> tf.Tensor:
    """Scale code(s) of s: the nearest level, 0 (skip) when it is >= skip_above or s is not
    finite."""
    scale = tf.cast(scale, tf.float32)
    level = self._level(tf.where(tf.math.is_finite(scale), scale, 1.0))
    return tf.where(level <= self._max_code, level, 0)

  def canvas_shape(self, shape: tf.Tensor | tuple[int, int], code: int | tf.Tensor
                   ) -> tf.Tensor:
    """int32 ``(h, w)`` the inner codec codes for an image of ``shape`` and a scale code."""
    shape = tf.cast(shape, tf.int32)
    scaled = scaled_size(shape[0], shape[1], self.scale_from_code(code), PAD_MULTIPLE)
    return tf.where(code > 0, scaled, round_up(shape, PAD_MULTIPLE))

  def predict_scale(self, x: tf.Tensor) -> tf.Tensor:
    """The resize network's s ``(B,)`` for float RGB ``(B, H, W, 3)`` in [0, 255]."""
    return self.resize_net(tf.convert_to_tensor(x, tf.float32))

  # -- training -----------------------------------------------------------------------------------
  def __call__(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
    """Forward pass on float RGB in [0, 255], any size (see the module docstring).

    Returns the keys of :meth:`ImageCodec.__call__` (``bpp`` and ``mse`` per original pixel)
    plus ``scale``: the grid s of each image.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    s = self.predict_scale(x)
    s += tf.stop_gradient(self.scale_from_code(self._level(s)) - s)
    shape = tf.shape(x)[1:3]
    size = scaled_size(shape[0], shape[1], tf.reduce_max(tf.stop_gradient(s)), PAD_MULTIPLE)
    out = self.inner.autoencode(self.downscale(self.pre_processor(x), s, size), training)
    x_hat = self.post_processor(self.upscale(out["x_hat"], s, shape))
    num_pixels = tf.cast(tf.reduce_prod(shape), tf.float32)
    mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat), axis=[1, 2, 3])
    return {"x_hat": x_hat, "bits": out["bits"], "bpp": out["bits"] / num_pixels, "mse": mse,
            "y_bits": out["y_bits"], "z_bits": out["z_bits"], "scale": s}

  # -- coding -------------------------------------------------------------------------------------
  @property
  def num_strings(self) -> int:
    """Strings per image: the scale code, then the inner codec's."""
    return 1 + self.inner.num_strings

  @property
  def hyper_coder(self) -> tfc.ContinuousBatchedEntropyModel | None:
    return self.inner.hyper_coder

  def code_hyper_latent(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return self.inner.code_hyper_latent(z)

  def entropy_parameters(self, z_hat: tf.Tensor) -> tf.Tensor:
    return self.inner.entropy_parameters(z_hat)

  def analysis(self, x: tf.Tensor) -> tf.Tensor:
    """The inner codec's g_a as its coder runs it (on the pre-processed, resized canvas)."""
    return self.inner.analysis(x)

  def synthesis(self, y_hat: tf.Tensor) -> tf.Tensor:
    """The inner codec's g_s as its coder runs it."""
    return self.inner.synthesis(y_hat)

  def prepare_for_compression(self) -> None:
    """(Re)builds the range-coding tables of the inner codec's parts and the coding graphs.

    The inner codec codes through this wrapper and is not prepared on its own (its
    compress / decompress functions would be saved in exports too).
    """
    self.inner.prepare_coders()
    self._compress_code = _graph(self._compress_at_code, IMAGE_SPEC, _CODE_SPEC)
    self._coding_functions = {"compress": _graph(self._compress, IMAGE_SPEC),
                              "decompress": _graph(self._decompress, STRINGS_SPEC, SHAPE_SPEC)}

  def compress(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
    """uint8 (H, W, 3) -> ``strings`` [scale code, z, y...], ``shape``, ``index_checksum``,
    ``slice_checksums``; s predicted by the resize network."""
    return self.coding_functions()["compress"](image)

  def compress_at_scale(self, image: tf.Tensor, scale: float) -> dict[str, tf.Tensor]:
    """:meth:`compress` at a forced s in [min_scale, 1] (snapped to the grid; skipped at
    >= skip_above), for timing and analysis. Also returns the ``code``, the ``scale`` used
    and the ``canvas_shape`` coded."""
    scale = float(scale)
    if not self.config.wrapper.min_scale <= scale <= 1.0:
      raise ValueError(f"scale must be in [{self.config.wrapper.min_scale}, 1], got {scale}")
    self.coding_functions()  # NotPreparedError before prepare_for_compression().
    return self._compress_code(image, self.code_from_scale(scale))

  def _compress(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
    s = self.predict_scale(tf.cast(image[None], tf.float32))[0]
    out = self._compress_code(image, self.code_from_scale(s))
    return {k: out[k] for k in _SIGNATURE_KEYS}

  def _compress_at_code(self, image: tf.Tensor, code: tf.Tensor) -> dict[str, tf.Tensor]:
    x = tf.cast(image[None], tf.float32)
    s = self.scale_from_code(code)
    size = self.canvas_shape(tf.shape(image)[:2], code)
    x = self.pre_processor(x)
    canvas = tf.cond(code > 0, lambda: self.downscale(x, s, size),
                     lambda: pad_to_multiple(x))
    strings, indexes = self.inner.encode_canvas(canvas)
    code_byte = tf.gather(tf.constant([bytes([k]) for k in range(self._max_code + 1)]), code)
    return {"strings": tf.concat([code_byte[None], strings], axis=0),
            "shape": tf.shape(image)[:2], "index_checksum": index_checksum(indexes),
            "slice_checksums": slice_checksums(indexes), "code": code, "scale": s,
            "canvas_shape": size}

  def _read_code(self, strings: tf.Tensor) -> tf.Tensor:
    """The validated scale code of the first string (InvalidArgumentError if bad)."""
    raw = tf.io.decode_raw(strings[:1], tf.uint8)
    checks = [
        tf.debugging.assert_equal(tf.size(strings), self.num_strings, message=(
            f"{self.config.name}: expected {self.num_strings} strings (scale code + inner)")),
        tf.debugging.assert_equal(tf.size(raw), 1, message=(
            "bad scale code: the first string must be exactly one byte"))]
    with tf.control_dependencies(checks):
      code = tf.cast(tf.reduce_sum(raw), tf.int32)
    check = tf.debugging.assert_less_equal(code, self._max_code, message=(
        f"bad scale code: the first string must hold 0..{self._max_code}"))
    with tf.control_dependencies([check]):
      return tf.identity(code)

  def _decompress(self, strings: tf.Tensor, shape: tf.Tensor) -> dict[str, tf.Tensor]:
    code = self._read_code(strings)
    x_hat, indexes = self.inner.decode_canvas(strings[1:], self.canvas_shape(shape, code))
    x_hat = self.post_processor(tf.cond(
        code > 0, lambda: self.upscale(x_hat, self.scale_from_code(code), shape),
        lambda: x_hat[:, :shape[0], :shape[1], :]))
    return {"image": to_uint8(x_hat, shape), "index_checksum": index_checksum(indexes),
            "slice_checksums": slice_checksums(indexes)}

  # -- bookkeeping --------------------------------------------------------------------------------
  def weight_view(self) -> dict[str, tf.Module]:
    """The learned parts by name: the inner codec's (same names as an ImageCodec's) and the
    scale-adaptation module's."""
    return {**self.inner.weight_view(), "resize_net": self.resize_net,
            "pre_processor": self.pre_processor, "post_processor": self.post_processor}
