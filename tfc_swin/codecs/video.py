"""The P-frame video codecs: Conv-SSF, SwinT-SSF, SwinT-SSF-Res (Zhu et al. 2022 sec. 3.2,
App. A.2; scale-space flow of Agustsson et al. 2020).

Three image codecs composed (:class:`~tfc_swin.configs.VideoCodecConfig`): ``iframe`` codes the
first frame of each GOP; for every other frame ``x`` with ``r`` the previous DECODED frame
(low-delay P, sec. 4.1), ``flow`` codes the scale-space flow from ``concat(x, r)``, the
prediction is ``warp(r, flow_hat)`` (:class:`~tfc_swin.layers.ScaleSpaceWarp`), ``residual``
codes ``x - prediction`` and the reconstruction is ``prediction + residual_hat``.

Scaling. Frames stay in [0, 255] everywhere: both codecs' g_a divide by 255 and their g_s
multiply by 255, as for images; the flow codec's input is the two frames stacked (6 channels)
and the residual codec's input is the signed difference plus :data:`RESIDUAL_OFFSET` (taken
off its output again): residuals then look like the mid-grey images an image codec knows, so
the residual codec can start from a trained image model (``--init_residual``); a new one
starts with its output at the offset. The flow codec's output ``f`` (3
channels on that [0, 255] scale) is read as ``f / 255 * (FLOW_PIXELS, FLOW_PIXELS, M)``: a
full-range output (255) is a displacement of :data:`FLOW_PIXELS` pixels in x / y and the
coarsest of the M scale levels (the warp clamps the scale to [0, M]), so one intensity level
is a quarter pixel of motion.

Training (:meth:`PFrameCodec.__call__`) unrolls a clip: the reference of frame t is the
reconstruction of frame t - 1 clipped to [0, 255] (not rounded), gradients flow through it.

Coding. The reference is always the previous decoded frame as uint8 (H, W, 3), never a float
state: the encoder gets the decoded frame back from :meth:`PFrameCodec.compress_pframe` (or
:meth:`compress_iframe`) and passes it as the next reference, exactly like the decoder, so both
stay in lock step. The encoder builds its prediction and reconstruction from its own strings
through the decoder's ops (range-decoded latents, g_s, warp). Frames of any size are padded to
multiples of 64 by edge replication (the reference too) and cropped back. The reference only
enters the reconstruction: a frame's strings parse and its scale indexes derive from its own
hyper-latents, so float differences between machines could make the decoded frames drift
within a GOP, never make a file undecodable.
"""
from __future__ import annotations

import hashlib
import json
import os

import tensorflow as tf

from tfc_swin.codecs.base import (IMAGE_SPEC, PAD_MULTIPLE, SHAPE_SPEC, STRINGS_SPEC,
                                  CodingModule, index_checksum, pad_to_multiple, round_up,
                                  to_uint8)
from tfc_swin.codecs.build import build_codec, restore_codec
from tfc_swin.codecs.image import MODEL_INFO_FILE, ImageCodec, restore_coding_options
from tfc_swin.configs import VideoCodecConfig, get_video_config
from tfc_swin.layers import ScaleSpaceWarp
from tfc_swin.layers.motion_search import block_motion
from tfc_swin.transforms.base import output_layer

#: Displacement in pixels of a full-range (255) flow codec output (see the module docstring).
FLOW_PIXELS = 64.0
PARTS = ("iframe", "flow", "residual")
#: Initial scale of the flow and residual g_s output layers (see :func:`_damp_output`).
OUTPUT_INIT_GAIN = 0.01
#: Added to the residual before its codec and taken off its output (see the module docstring).
RESIDUAL_OFFSET = 128.0

_REFERENCE_SPEC = tf.TensorSpec([None, None, 3], tf.uint8, name="reference")


def with_reversed_order(clip: tf.Tensor) -> tf.Tensor:
  """``[B, T, ...]`` -> ``[2B, T, ...]``: the clips, then the same clips played backwards.

  The App. B.1 trick (each sequence forwarded once in each order per step, batch halved).
  """
  return tf.concat([clip, tf.reverse(clip, axis=[1])], axis=0)


def _padded_float(image: tf.Tensor) -> tf.Tensor:
  """uint8 (H, W, 3) -> float (1, H', W', 3), sides padded to multiples of 64 (edges)."""
  return pad_to_multiple(tf.cast(image[None], tf.float32))


class PFrameCodec(CodingModule):
  """Scale-space-flow P-frame codec built from a :class:`VideoCodecConfig` (sec. 3.2).

  ``freeze_iframe``: the I-frame codec (usually started from a shipped image model, see
  :meth:`init_part`) is left out of :attr:`training_variables` and runs in inference mode
  without gradients in :meth:`__call__`.
  """

  def __init__(self, config: VideoCodecConfig, freeze_iframe: bool = False):
    super().__init__(config)
    self.freeze_iframe = freeze_iframe
    self.iframe = build_codec(config.iframe)
    self.flow = ImageCodec(config.flow)
    self.residual = ImageCodec(config.residual)
    _damp_output(self.flow)
    _damp_output(self.residual, RESIDUAL_OFFSET)
    self.warp = ScaleSpaceWarp()
    self._tables_fingerprint = None

  # -- training ---------------------------------------------------------------------------------
  @property
  def training_variables(self) -> list[tf.Variable]:
    """What a trainer updates: flow and residual codecs, and the I-frame codec unless frozen."""
    parts = PARTS[1:] if self.freeze_iframe else PARTS
    return [v for part in parts for v in getattr(self, part).trainable_variables]

  def flow_field(self, flow_output: tf.Tensor) -> tf.Tensor:
    """Flow codec output on the [0, 255] scale -> (dx, dy in pixels, scale level)."""
    gains = tf.constant([FLOW_PIXELS, FLOW_PIXELS, float(self.warp.num_levels)]) / 255.0
    return flow_output * gains

  def motion_hint(self, x: tf.Tensor, reference: tf.Tensor) -> tf.Tensor | None:
    """The encoder-side block-matching flow (B, H, W, 2) in pixels, if the config has a
    :class:`~tfc_swin.configs.MotionHint` (else None)."""
    hint = self.config.motion_hint
    return block_motion(x, reference, hint.block, hint.search) if hint else None

  def flow_input(self, x: tf.Tensor, reference: tf.Tensor, hint: tf.Tensor | None
                 ) -> tf.Tensor:
    """What the flow encoder reads: the frame, its reference and, if any, the motion hint on
    the flow codec's output scale (:meth:`flow_field` inverted)."""
    parts = [x, reference]
    if hint is not None:
      parts.append(hint * (255.0 / FLOW_PIXELS))
    return tf.concat(parts, axis=-1)

  def predict_pframe(self, x: tf.Tensor, reference: tf.Tensor, training: bool = False
                     ) -> dict[str, tf.Tensor]:
    """One P frame (float (B, H, W, 3), sides multiples of 64) from its reference.

    Returns ``x_hat`` (unclipped), ``prediction`` (warped reference), ``flow``, ``bits``
    (flow + residual, per item) and ``hint`` (the motion hint, or None).
    """
    hint = self.motion_hint(x, reference)
    flow = self.flow.autoencode(self.flow_input(x, reference, hint), training)
    field = self.flow_field(flow["x_hat"])
    prediction = self.warp(reference, field)
    residual = self.residual.autoencode(x - prediction + RESIDUAL_OFFSET, training)
    x_hat = prediction + residual["x_hat"] - RESIDUAL_OFFSET
    return {"x_hat": x_hat, "prediction": prediction, "flow": field, "hint": hint,
            "bits": flow["bits"] + residual["bits"]}

  def __call__(self, clip: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
    """Low-delay-P forward pass of ``clip`` [B, T, H, W, 3] float in [0, 255] (T static,
    sides multiples of 64): frame 0 through the I-frame codec, frame t > 0 predicted from the
    reconstruction of frame t - 1 (clipped to [0, 255]; gradients flow through it).

    Returns per frame, shape [B, T]: ``bits``, ``bpp``, ``mse`` (of the unclipped
    reconstruction, [0, 255] scale) and ``flow_loss`` (MSE of the warped reference against
    the frame, the flow loss of App. B.1; with a motion hint plus the MSE of the decoded flow
    against the hint on the flow codec's scale, which teaches the flow codec to send it; 0 for
    the I-frame); and ``x_hat`` [B, T, H, W, 3].
    """
    clip = tf.convert_to_tensor(clip, tf.float32)
    frames = tf.unstack(clip, axis=1)
    first = self.iframe(frames[0], training=training and not self.freeze_iframe)
    x_hat, bits = first["x_hat"], first["bits"]
    if self.freeze_iframe:
      x_hat, bits = tf.stop_gradient(x_hat), tf.stop_gradient(bits)
    outputs = [{"x_hat": x_hat, "bits": bits, "flow_loss": tf.zeros_like(bits)}]
    for x in frames[1:]:
      reference = tf.clip_by_value(outputs[-1]["x_hat"], 0.0, 255.0)
      out = self.predict_pframe(x, reference, training)
      out["flow_loss"] = _mse(x, out["prediction"])
      if out["hint"] is not None:
        out["flow_loss"] += _mse(out["flow"][..., :2], out["hint"]) * (255.0 / FLOW_PIXELS) ** 2
      outputs.append(out)
    x_hat = tf.stack([o["x_hat"] for o in outputs], axis=1)
    bits = tf.stack([o["bits"] for o in outputs], axis=1)
    pixels = tf.cast(tf.reduce_prod(tf.shape(clip)[2:4]), tf.float32)
    return {"x_hat": x_hat, "bits": bits, "bpp": bits / pixels,
            "mse": tf.reduce_mean(tf.math.squared_difference(clip, x_hat), axis=[2, 3, 4]),
            "flow_loss": tf.stack([o["flow_loss"] for o in outputs], axis=1)}

  def init_part(self, part: str, source: str) -> str:
    """Loads the weights of the ``iframe`` or ``residual`` codec from an image model: an
    exported SavedModel, an image training checkpoint prefix, or a folder of checkpoints /
    training run folder. The I-frame codec needs the same config; the residual codec (a warm
    start, see ``--init_residual``) only the same weight shapes.

    Before :meth:`prepare_for_compression`. Returns what was read.
    """
    if part not in ("iframe", "residual"):
      raise ValueError(f"init_part: {part!r} is not 'iframe' or 'residual'")
    self._check_unprepared(f"init_part({part!r})")
    if tf.saved_model.contains_saved_model(source):
      self._copy_part(part, restore_codec(source), source)
      return source
    read = checkpoint_prefix(source)
    _read_checkpoint(getattr(self, part).weight_view(), read)
    return read

  def restore(self, source: str) -> str:
    """Loads all weights from a checkpoint written as ``tf.train.Checkpoint(model=codec)`` (a
    prefix, a folder of checkpoints or a run folder: the latest); returns the prefix read.

    Before :meth:`prepare_for_compression`.
    """
    self._check_unprepared("restore")
    read = checkpoint_prefix(source)
    _read_checkpoint(self.weight_view(), read)
    return read

  def _check_unprepared(self, what: str) -> None:
    if self.prepared:
      raise RuntimeError(f"{self.config.name}: {what} must come before "
                         "prepare_for_compression() (the coding tables derive from the weights)")

  def _copy_part(self, part: str, donor: tf.Module, source: str) -> None:
    target = getattr(self, part)
    mine, theirs = target.config, donor.config
    if part == "iframe" and (mine.transform, mine.prior, mine.wrapper) != (
        theirs.transform, theirs.prior, theirs.wrapper):
      raise ValueError(f"{source}: model config {theirs.name} differs from the I-frame config "
                       f"{mine.name} of {self.config.name}")
    shapes = [[v.shape.as_list() for v in m.trainable_variables] for m in (donor, target)]
    if type(mine.prior) is not type(theirs.prior) or shapes[0] != shapes[1]:
      raise ValueError(f"{source}: the weights of {theirs.name} do not fit the {part} codec "
                       f"{mine.name} of {self.config.name}")
    for a, b in zip(donor.trainable_variables, target.trainable_variables, strict=True):
      b.assign(a)

  # -- coding -----------------------------------------------------------------------------------
  @property
  def num_strings(self) -> dict[str, int]:
    """Entropy-coded strings per frame: ``{"I": ..., "P": flow + residual}``."""
    return {"I": self.iframe.num_strings,
            "P": self.flow.num_strings + self.residual.num_strings}

  def ensure_prepared(self) -> None:
    """Builds the coding tables unless they were built from the current weights."""
    if not self.prepared or self._tables_fingerprint != self.fingerprint():
      self.prepare_for_compression()

  def prepare_for_compression(self) -> None:
    """(Re)builds the three codecs' range-coding tables and the four coding tf.functions."""
    self.iframe.prepare_for_compression()  # Its compress / decompress code the I-frames.
    self.flow.prepare_coders()
    self.residual.prepare_coders()
    self._tables_fingerprint = self.fingerprint()
    self._coding_functions = {
        "compress_iframe": tf.function(self._compress_iframe, input_signature=[IMAGE_SPEC]),
        "compress_pframe": tf.function(self._compress_pframe,
                                       input_signature=[IMAGE_SPEC, _REFERENCE_SPEC]),
        "decompress_iframe": tf.function(self._decompress_iframe,
                                         input_signature=[STRINGS_SPEC, SHAPE_SPEC]),
        "decompress_pframe": tf.function(
            self._decompress_pframe, input_signature=[STRINGS_SPEC, _REFERENCE_SPEC,
                                                      SHAPE_SPEC])}

  def compress_iframe(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
    """uint8 (H, W, 3) -> ``strings``, decoded ``image`` (the next reference),
    ``index_checksum``."""
    return self.coding_functions()["compress_iframe"](image)

  def compress_pframe(self, image: tf.Tensor, reference: tf.Tensor) -> dict[str, tf.Tensor]:
    """uint8 frame and decoded previous frame (H, W, 3) -> ``strings`` (flow, then residual),
    decoded ``image`` (bit-exactly what :meth:`decompress_pframe` gives), ``index_checksum``."""
    return self.coding_functions()["compress_pframe"](image, reference)

  def decompress_iframe(self, strings: tf.Tensor, shape: tf.Tensor) -> dict[str, tf.Tensor]:
    """Strings of :meth:`compress_iframe` -> uint8 ``image``, ``index_checksum``."""
    return self.coding_functions()["decompress_iframe"](strings, shape)

  def decompress_pframe(self, strings: tf.Tensor, reference: tf.Tensor, shape: tf.Tensor
                        ) -> dict[str, tf.Tensor]:
    """Strings of :meth:`compress_pframe` + the same reference -> uint8 ``image``,
    ``index_checksum``."""
    return self.coding_functions()["decompress_pframe"](strings, reference, shape)

  def analyze_pframe(self, image: tf.Tensor, reference: tf.Tensor) -> dict[str, tf.Tensor]:
    """Codes a P frame with :meth:`compress_pframe` and takes it apart (the parts of sec. 3.2;
    scale-space flow of Agustsson et al. 2020), for ``experiments/analyze_pframes.py``.

    Returns its ``strings`` and decoded uint8 ``image``; ``flow_bits`` and ``residual_bits``
    (8 x the lengths of the first ``flow.num_strings`` strings and of the others); and, decoded
    again from the flow strings as the decoder does (eagerly), the float ``prediction`` and the
    ``flow`` field (dx, dy in pixels, scale level, before the warp clamps it to [0, M]), both
    (H, W, 3).
    """
    out = self.compress_pframe(image, reference)
    shape = tf.shape(image)[:2]
    split = self.flow.num_strings
    prediction, field, _ = self._predict(out["strings"][:split], _padded_float(reference), shape)
    bits = 8 * tf.strings.length(out["strings"])
    return {"strings": out["strings"], "image": out["image"],
            "prediction": prediction[0, :shape[0], :shape[1]],
            "flow": field[0, :shape[0], :shape[1]],
            "flow_bits": tf.reduce_sum(bits[:split]), "residual_bits": tf.reduce_sum(bits[split:])}

  def _compress_iframe(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
    out = self.iframe.compress(image)
    decoded = self.iframe.decompress(out["strings"], out["shape"])
    return {"strings": out["strings"], "image": decoded["image"],
            "index_checksum": out["index_checksum"]}

  def _decompress_iframe(self, strings: tf.Tensor, shape: tf.Tensor) -> dict[str, tf.Tensor]:
    out = self.iframe.decompress(strings, shape)
    return {"image": out["image"], "index_checksum": out["index_checksum"]}

  def _compress_pframe(self, image: tf.Tensor, reference: tf.Tensor) -> dict[str, tf.Tensor]:
    shape = tf.shape(image)[:2]
    x, ref = _padded_float(image), _padded_float(reference)
    flow_strings, flow_indexes = self.flow.encode_canvas(
        self.flow_input(x, ref, self.motion_hint(x, ref)))
    prediction, _, _ = self._predict(flow_strings, ref, shape)
    residual_strings, residual_indexes = self.residual.encode_canvas(
        x - prediction + RESIDUAL_OFFSET)
    image_hat, _ = self._reconstruct(residual_strings, prediction, shape)
    return {"strings": tf.concat([flow_strings, residual_strings], axis=0), "image": image_hat,
            "index_checksum": index_checksum(flow_indexes + residual_indexes)}

  def _decompress_pframe(self, strings: tf.Tensor, reference: tf.Tensor, shape: tf.Tensor
                         ) -> dict[str, tf.Tensor]:
    split = self.flow.num_strings
    prediction, _, flow_indexes = self._predict(strings[:split], _padded_float(reference),
                                                shape)
    image, residual_indexes = self._reconstruct(strings[split:], prediction, shape)
    return {"image": image, "index_checksum": index_checksum(flow_indexes + residual_indexes)}

  def _predict(self, flow_strings: tf.Tensor, reference: tf.Tensor, shape: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
    """The decoder's prediction and flow field (padded) from the flow strings and the padded
    float reference."""
    flow_hat, indexes = self.flow.decode_canvas(flow_strings, round_up(shape, PAD_MULTIPLE))
    field = self.flow_field(flow_hat)
    return self.warp(reference, field), field, indexes

  def _reconstruct(self, residual_strings: tf.Tensor, prediction: tf.Tensor, shape: tf.Tensor
                   ) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """The decoder's uint8 frame from the residual strings and the prediction."""
    residual_hat, indexes = self.residual.decode_canvas(residual_strings,
                                                       round_up(shape, PAD_MULTIPLE))
    return to_uint8(prediction + residual_hat - RESIDUAL_OFFSET, shape), indexes

  # -- bookkeeping ------------------------------------------------------------------------------
  def weight_view(self) -> dict[str, tf.Module]:
    """The learned parts by name: each codec's weight view (what checkpoints are read into)."""
    return {part: tf.train.Checkpoint(**getattr(self, part).weight_view()) for part in PARTS}

  def count_parameters(self) -> dict[str, int]:
    """Trainable parameters per part (``iframe``, ``flow``, ``residual``) and ``total``."""
    counts = {part: getattr(self, part).count_parameters() for part in PARTS}
    return {**counts, "total": sum(counts.values())}

  def fingerprint(self) -> str:
    """sha256 (first 16 hex digits) over the three codecs' weights, part by part."""
    digest = hashlib.sha256()
    for part in PARTS:
      digest.update(part.encode())
      digest.update(getattr(self, part).fingerprint().encode())
    return digest.hexdigest()[:16]


def _damp_output(codec: ImageCodec, output: float = 0.0) -> None:
  """Scales the initial weights of g_s's output layer by :data:`OUTPUT_INIT_GAIN`, then
  shifts its biases so that it outputs about ``output`` (on the [0, 255] scale).

  Freshly initialized, g_s outputs hundreds of levels: flows of hundreds of pixels and
  residuals far outside [0, 255], so the unrolled clip starts from garbage references and the
  first steps diverge. Damped, a new model starts near "copy the previous frame" (flow and
  residual near 0) and gradients still reach every weight.
  """
  layer = output_layer(codec.g_s)
  for weight in layer.trainable_weights:
    weight.assign(weight * OUTPUT_INIT_GAIN)
  if output:
    # A Swin PatchSplit's Dense, or a conv (TFC's SignalConv2D keeps it in bias_parameter).
    bias = layer.linear.bias if hasattr(layer, "linear") else layer.bias_parameter
    bias.assign_add(tf.fill(tf.shape(bias), output / 255.0))


def _mse(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  return tf.reduce_mean(tf.math.squared_difference(x, y), axis=[1, 2, 3])


def _read_checkpoint(view: dict[str, tf.Module], prefix: str, under: str = "model") -> None:
  """Reads the object ``under`` of a checkpoint (``model`` in training checkpoints, ``codec``
  in SavedModels) into the parts of a weight view (coding tables and optimizer slots, if any,
  are ignored)."""
  tf.train.Checkpoint(**{under: tf.train.Checkpoint(**view)}).read(prefix) \
      .assert_existing_objects_matched().expect_partial()


def checkpoint_prefix(source: str) -> str:
  """A checkpoint prefix as given, or the latest one of a folder / run's ``checkpoints``."""
  if not os.path.isdir(source):
    if not tf.io.gfile.exists(source + ".index"):
      raise ValueError(f"{source}: not a SavedModel, checkpoint or checkpoint folder")
    return source
  folder = os.path.join(source, "checkpoints")
  latest = tf.train.latest_checkpoint(folder if os.path.isdir(folder) else source)
  if not latest:
    raise ValueError(f"{source}: no checkpoint found")
  return latest


def restore_video_codec(saved_model: str) -> PFrameCodec:
  """Rebuilds the in-memory codec of an exported video SavedModel
  (:func:`tfc_swin.video.coder.export_video_codec`) from the config stored in it
  (``video_config`` of :data:`MODEL_INFO_FILE`) and loads its weights: the video counterpart
  of :func:`~tfc_swin.codecs.restore_codec` (fused LayerNorm / GELU as the export says)."""
  info_path = os.path.join(saved_model, MODEL_INFO_FILE)
  if not os.path.exists(info_path):
    raise ValueError(f"{saved_model}: not a tfc_swin SavedModel (no {MODEL_INFO_FILE})")
  with open(info_path) as f:
    info = json.load(f)
  if "video_config" not in info:
    raise ValueError(f"{saved_model}: an image model ({info.get('config')}), not a video model")
  codec = build_video_codec(VideoCodecConfig.from_dict(info["video_config"]))
  restore_coding_options(codec, info)
  _read_checkpoint(codec.weight_view(), os.path.join(saved_model, "variables", "variables"),
                   "codec")
  if codec.fingerprint() != info["fingerprint"]:
    raise ValueError(f"{saved_model}: restored weights have fingerprint {codec.fingerprint()}, "
                     f"the model says {info['fingerprint']}")
  return codec


def build_video_codec(config: VideoCodecConfig | str, freeze_iframe: bool = False
                      ) -> PFrameCodec:
  """A P-frame codec for a video config (or registered video config name), fresh weights."""
  if isinstance(config, str):
    config = get_video_config(config)
  return PFrameCodec(config, freeze_iframe)
