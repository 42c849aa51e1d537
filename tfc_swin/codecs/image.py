"""The image codec: transforms + factorized hyper-prior + latent prior (Zhu et al. 2022, sec. 2-3).

x -> g_a -> y -> h_a -> z;  z is coded with a learned factorized prior
(``tfc.ContinuousBatchedEntropyModel``); ``h_s(z_hat)`` parameterizes the latent prior
(mean-scale hyperprior or ChARM) that codes y with a Gaussian; ``x_hat = g_s(y_hat)``.

One class serves every composition: the config names the parts (:mod:`tfc_swin.configs`) and
their registries build them. Range coding needs :meth:`ImageCodec.prepare_for_compression`,
which (re)builds the coding tables of the hyper coder and of the prior from the current
weights; :meth:`compress` / :meth:`decompress` refuse to run before it.

h_s (and the ChARM slice networks of the prior) compute in float64 with float32 weights, so
that encoder and decoder derive the same integer scale indexes on different machines (see
:mod:`tfc_swin.layers.precision`). The coder can run g_a and g_s with their float32 LayerNorm and
GELU fused by XLA (:meth:`ImageCodec.analysis`, :meth:`ImageCodec.synthesis`;
:func:`tfc_swin.layers.compiled.coding_elementwise`) and with their matmuls in bfloat16
(:class:`tfc_swin.layers.precision.Linear`): they only shape y and the decoded image, never the
scale indexes. A third option gives portability up for speed: h_s and the prior's networks in
float32 (:attr:`ImageCodec.float32_entropy_parameters`). All are off by default
(:data:`CODING_OPTIONS`, :func:`set_coding_options`).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import tensorflow as tf
import tensorflow_compression as tfc

from tfc_swin.codecs.base import (IMAGE_SPEC, PAD_MULTIPLE, SHAPE_SPEC, STRINGS_SPEC,
                                  CodingModule, index_checksum, pad_to_multiple, round_up,
                                  slice_checksums, to_uint8)
from tfc_swin.configs import CodecConfig
from tfc_swin.layers.compiled import coding_elementwise, coding_fused
from tfc_swin.layers.precision import (bfloat16_matmuls, float64_compute, float64_enabled,
                                      set_compute_dtype)
from tfc_swin.priors import build_prior
from tfc_swin.transforms import build_transforms

#: What an exported SavedModel says about itself (name, config, fingerprint, codec_config,
#: and its :data:`CODING_OPTIONS`).
MODEL_INFO_FILE = "tfc_swin_model.json"

#: How coding functions run (:class:`ImageCodec` attributes of these names; exports
#: record them, restored codecs code as their SavedModel does, older exports: all off).
CODING_OPTIONS = ("fused_elementwise", "bfloat16_matmuls", "float32_entropy_parameters")


def hyper_coding_tables(prior: tfc.NoisyDeepFactorized) -> tuple[tf.Tensor, tf.Tensor]:
  """TFC's range-coding tables (cdf, cdf_offset) of the factorized hyperprior, computed in a
  graph: the same integers as TFC builds eagerly, much faster (its tail search is a loop of
  small ops, slow when run eagerly)."""
  def build() -> tuple[tf.Tensor, tf.Tensor]:
    model = tfc.ContinuousBatchedEntropyModel(prior, coding_rank=3, compression=True,
                                              stateless=True, offset_heuristic=False)
    return model.cdf, model.cdf_offset
  return tf.function(build, autograph=False)()


class ImageCodec(CodingModule):
  """An image codec assembled from the parts its :class:`CodecConfig` names."""

  #: Coding functions trace g_a / g_s with XLA-fused LayerNorm and GELU (:meth:`analysis`):
  #: off by default (TF Serving runs XLA only with ``--xla_cpu_compilation_enabled``, and a
  #: one-image command pays ~0.7 s of XLA compilation); on with :func:`set_coding_options`
  #: or ``TFC_SWIN_XLA_CODING=1``. Exports record it and restored codecs code as their
  #: SavedModel does.
  fused_elementwise = False
  #: Coding functions trace g_a / g_s with bfloat16 matmuls (:class:`Linear
  #: <tfc_swin.layers.precision.Linear>`): off by default (it changes y, so the files, and the
  #: decoded pixels slightly; ~2x faster matmuls only on CPUs with AVX512_BF16 / AMX and on
  #: GPUs); on with :func:`set_coding_options`. Exports record it, like ``fused_elementwise``.
  bfloat16_matmuls = False

  def __init__(self, config: CodecConfig):
    super().__init__(config)
    params_channels = 2 * config.latent_channels
    self.g_a, self.g_s, self.h_a, _ = build_transforms(config.transform, params_channels)
    with float64_compute():  # Built inside, so that its sublayers compute in float64 too.
      self.h_s = build_transforms(config.transform, params_channels).h_s
      self.h_s(tf.zeros([1, 1, 1, config.hyper_channels]))
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=[config.hyper_channels])
    self.prior = build_prior(config.prior, config.latent_channels)
    self._built_float64 = float64_enabled()
    self.hyper_coder = None
    self.autoencode(tf.zeros([1, PAD_MULTIPLE, PAD_MULTIPLE, config.transform.in_channels]))

  @property
  def float32_entropy_parameters(self) -> bool:
    """h_s and the prior's networks compute in float32, not float64: off by default (and for
    every shipped model). About 2x faster there (29% of paper-size SwinT-ChARM's decode), as
    the public implementations run, but files then decode reliably only where they were
    made: other CPUs, thread counts or TF builds can derive other scale indexes, which the
    decoder detects by the file's index checksums and refuses (docs/robustness.md). Set it
    with :func:`set_coding_options`; exports record it, like the other options."""
    return self.h_s.compute_dtype == "float32"

  @float32_entropy_parameters.setter
  def float32_entropy_parameters(self, enabled: bool) -> None:
    if not enabled and not self._built_float64:
      raise ValueError(f"{self.config.name}: built inside float32_entropy_parameters() (for "
                       "training), so it cannot compute them in float64; build it outside")
    set_compute_dtype([self.h_s, self.prior], "float32" if enabled else "float64")

  # -- training ---------------------------------------------------------------------------------
  def hyper_model(self, compression: bool = False) -> tfc.ContinuousBatchedEntropyModel:
    """The entropy model of z: for training (noise / rounding, rate), or with ``compression``
    for range coding, its tables computed from the current hyperprior weights."""
    if not compression:
      return tfc.ContinuousBatchedEntropyModel(self.hyperprior, coding_rank=3,
                                               offset_heuristic=False)
    cdf, cdf_offset = hyper_coding_tables(self.hyperprior)
    return tfc.ContinuousBatchedEntropyModel(
        coding_rank=3, compression=True, cdf=cdf, cdf_offset=cdf_offset,
        prior_shape=self.hyperprior.batch_shape, offset_heuristic=False)

  def __call__(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
    """Forward pass on float RGB in [0, 255], sides multiples of 64.

    Returns ``x_hat`` (float, unclipped), ``bits`` (per image, y and z), ``bpp`` and ``mse``
    (per image, on the [0, 255] scale). With ``training`` the rate uses additive uniform noise;
    the decoder always sees rounded latents (mixed quantization, App. B.1).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    out = self.autoencode(x, training)
    num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), tf.float32)
    mse = tf.reduce_mean(tf.math.squared_difference(x, out["x_hat"]), axis=[1, 2, 3])
    return {**out, "bpp": out["bits"] / num_pixels, "mse": mse}

  def autoencode(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
    """g_s(y_hat) and the rate of coding x (any channels the transforms take): ``x_hat``,
    ``bits`` = ``y_bits`` + ``z_bits`` per item."""
    y = self.g_a(x)
    z = self.h_a(y)
    em_z = self.hyper_model()
    _, z_bits = em_z(z, training=training)
    params = self.entropy_parameters(em_z.quantize(z))
    y_hat, y_bits = self.prior.forward(y, params, training)
    return {"x_hat": self.g_s(y_hat), "bits": y_bits + z_bits, "y_bits": y_bits,
            "z_bits": z_bits}

  def entropy_parameters(self, z_hat: tf.Tensor) -> tf.Tensor:
    """h_s(z_hat) (computed in float64) as float32: the latent prior's mean and scale index."""
    return tf.cast(self.h_s(z_hat), tf.float32)

  # -- coding -----------------------------------------------------------------------------------
  @property
  def num_strings(self) -> int:
    """Entropy-coded strings per image: one for z, then the prior's."""
    return 1 + self.prior.num_strings

  def prepare_for_compression(self) -> None:
    """(Re)builds the range-coding tables from the current weights and the coding graphs."""
    self.prepare_coders()
    self._coding_functions = {
        "compress": tf.function(self._compress, input_signature=[IMAGE_SPEC]),
        "decompress": tf.function(self._decompress,
                                  input_signature=[STRINGS_SPEC, SHAPE_SPEC])}

  def prepare_coders(self) -> None:
    """(Re)builds the range-coding tables of the hyper coder and the prior only (for a codec
    that codes canvases through :meth:`encode_canvas` inside another codec's functions)."""
    self.hyper_coder = self.hyper_model(compression=True)
    self.prior.prepare_for_compression()

  def compress(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
    """uint8 (H, W, 3) -> entropy-coded ``strings`` [z, y...], ``shape``, ``index_checksum``
    (all scale indexes) and ``slice_checksums`` (per latent slice)."""
    return self.coding_functions()["compress"](image)

  def decompress(self, strings: tf.Tensor, shape: tf.Tensor) -> dict[str, tf.Tensor]:
    """Inverse of compress: uint8 ``image`` of ``shape`` and the decoder's ``index_checksum``
    and ``slice_checksums``."""
    return self.coding_functions()["decompress"](strings, shape)

  def code_hyper_latent(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Range-codes z: (its string, the decoded z_hat the decoder will see)."""
    string = self.hyper_coder.compress(z)
    return string, self.hyper_coder.decompress(string, tf.shape(z)[1:3])

  @contextlib.contextmanager
  def _transform_coding(self) -> Iterator[None]:
    with coding_elementwise(self.fused_elementwise), bfloat16_matmuls(self.bfloat16_matmuls):
      yield

  def analysis(self, x: tf.Tensor) -> tf.Tensor:
    """g_a as the coder runs it: with :attr:`fused_elementwise`, LayerNorm and GELU XLA-fused
    when traced (:func:`~tfc_swin.layers.compiled.coding_elementwise`), with
    :attr:`bfloat16_matmuls` its matmuls in bfloat16; equal to ``g_a(x)`` up to float
    rounding (bfloat16: up to the rounding of each matmul's operands to 8 significant bits)."""
    with self._transform_coding():
      return self.g_a(x)

  def synthesis(self, y_hat: tf.Tensor) -> tf.Tensor:
    """g_s as the coder runs it (see :meth:`analysis`)."""
    with self._transform_coding():
      return self.g_s(y_hat)

  def encode_canvas(self, canvas: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """Range-codes a float (1, h, w, C) canvas (sides multiples of 64): (strings [z, y...],
    the scale indexes used)."""
    y = self.analysis(canvas)
    z_string, z_hat = self.code_hyper_latent(self.h_a(y))
    y_strings, indexes = self.prior.compress(y, self.entropy_parameters(z_hat))
    return tf.concat([z_string] + y_strings, axis=0), indexes

  def decode_canvas(self, strings: tf.Tensor, canvas_shape: tf.Tensor
                    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """Inverse of :meth:`encode_canvas` given the canvas ``(h, w)``: (float g_s output
    (1, h, w, C), unclipped; the scale indexes used)."""
    z_hat = self.hyper_coder.decompress(strings[:1], canvas_shape // PAD_MULTIPLE)
    y_strings = [strings[i:i + 1] for i in range(1, self.num_strings)]
    y_hat, indexes = self.prior.decompress(y_strings, self.entropy_parameters(z_hat))
    return self.synthesis(y_hat), indexes

  def _compress(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
    strings, indexes = self.encode_canvas(pad_to_multiple(tf.cast(image[None], tf.float32)))
    return {"strings": strings, "shape": tf.shape(image)[:2],
            "index_checksum": index_checksum(indexes),
            "slice_checksums": slice_checksums(indexes)}

  def _decompress(self, strings: tf.Tensor, shape: tf.Tensor) -> dict[str, tf.Tensor]:
    x_hat, indexes = self.decode_canvas(strings, round_up(shape, PAD_MULTIPLE))
    return {"image": to_uint8(x_hat, shape), "index_checksum": index_checksum(indexes),
            "slice_checksums": slice_checksums(indexes)}

  # -- bookkeeping ------------------------------------------------------------------------------
  def weight_view(self) -> dict[str, tf.Module]:
    """The learned parts by name (what a checkpoint or SavedModel stores of this codec)."""
    return {"g_a": self.g_a, "g_s": self.g_s, "h_a": self.h_a, "h_s": self.h_s,
            "hyperprior": self.hyperprior, "prior": self.prior}


def _image_codecs(module: tf.Module) -> list[ImageCodec]:
  """``module`` and every image codec inside it (AICT's inner codec, a P-frame codec's
  three)."""
  return [c for c in (module, *module.submodules) if isinstance(c, ImageCodec)]


def set_coding_options(module: tf.Module, **options: bool) -> None:
  """Sets :data:`CODING_OPTIONS` (e.g. ``fused_elementwise=True``) of every image codec of
  ``module``; before ``prepare_for_compression``."""
  unknown = set(options) - set(CODING_OPTIONS)
  if unknown:
    raise ValueError(f"unknown coding options {sorted(unknown)}; known: {CODING_OPTIONS}")
  for codec in _image_codecs(module):
    for name, enabled in options.items():
      setattr(codec, name, bool(enabled))


def coding_options(module: tf.Module) -> dict[str, bool]:
  """How ``module``'s coding functions run (what an export records): each of
  :data:`CODING_OPTIONS` of its image codecs, ``fused_elementwise`` as
  :func:`~tfc_swin.layers.compiled.coding_fused` says."""
  options = {}
  for name in CODING_OPTIONS:
    flags = {getattr(c, name) for c in _image_codecs(module)}
    if len(flags) != 1:
      raise ValueError(f"{module}: image codecs with mixed {name} {flags}")
    options[name] = flags.pop()
  options["fused_elementwise"] = coding_fused(options["fused_elementwise"])
  return options


def restore_coding_options(module: tf.Module, info: dict) -> None:
  """Sets ``module``'s coding options as a :data:`MODEL_INFO_FILE` records them."""
  set_coding_options(module, **{name: info.get(name, False) for name in CODING_OPTIONS})
