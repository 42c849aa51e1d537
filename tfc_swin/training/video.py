"""Training the P-frame video codecs (Zhu et al. 2022 sec. 4.1 and App. B.1, following SSF).

Data (:func:`clip_dataset`): clips of ``T`` consecutive frames, one random crop per clip (the
same window in every frame), from folders of frames: every folder under ``--data`` holding at
least ``T`` images is a sequence (e.g. the DAVIS folders of ``../shared/data/video/train``),
and a Vimeo-90k septuplet folder (``sequences/<a>/<b>/im1.png..im7.png``) is read the same way,
restricted to the sequences its ``sep_trainlist.txt`` lists when there is one. Every window of
``T`` frames of every sequence is one element; the windows are shuffled (only their indexes
are held) and each clip is decoded when its turn comes and dropped once cropped, so memory does
not grow with the data (:func:`clip_memory_bound`).

Loss (B.1): per clip, the sum over its frames of the image trainer's ``D + lambda * R``
(:func:`~tfc_swin.training.trainer.rd_loss`: MSE on [0, 255] plus lambda times the bits per
256x256 pixels), plus, during the first ``flow_loss_steps`` steps (B.1: 200K), the flow loss:
the MSE of the warped reference against the frame, summed over the P frames. Each clip is also
forwarded in reversed frame order (:func:`~tfc_swin.codecs.video.with_reversed_order`, B.1's
stabilizing trick), so a step codes ``2 * batch_size`` clips: the paper's batch of 4 with the
trick. The I-frame codec can start from a shipped image model (``init_iframe``, e.g.
``zoo/swint-hyperprior-cpu/4/q2`` for the ``-cpu`` video configs) and stay frozen
(``freeze_iframe``); the residual codec can start from an image model with the same weight
shapes (``init_residual``: a warm start for CPU budgets, not in the paper). The rest (schedule, Adam skipping non-finite steps, tf.distribute, run
folder, checkpoints and resume, summaries, ``max_minutes``) is :class:`Trainer`'s.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfc_swin import image_io
from tfc_swin.codecs.video import PFrameCodec, build_video_codec, with_reversed_order
from tfc_swin.eval.metrics import psnr_from_mse
from tfc_swin.training import data
from tfc_swin.training.config import TrainConfig, flag_field
from tfc_swin.training.trainer import RESUME_LOCKED, Trainer, rd_loss
from tfc_swin.video.frames import frame_names

#: Vimeo-90k's list of training sequences (``<a>/<b>`` lines) and the folder they are in.
VIMEO_TRAINLIST = "sep_trainlist.txt"
VIMEO_SEQUENCES = "sequences"


@dataclasses.dataclass(frozen=True)
class Sequence:
  """A folder of frames and their file names in order."""
  folder: str
  names: tuple[str, ...]


def find_sequences(source: str, min_frames: int = 1) -> list[Sequence]:
  """The sequences of a training folder (see the module docstring) with at least
  ``min_frames`` frames, in sorted order."""
  if not os.path.isdir(source):
    raise ValueError(f"{source}: no such folder")
  trainlist = os.path.join(source, VIMEO_TRAINLIST)
  if os.path.isfile(trainlist):
    with open(trainlist) as f:
      folders = [os.path.join(source, VIMEO_SEQUENCES, line.strip()) for line in f
                 if line.strip()]
  else:
    folders = sorted(folder for folder, _, _ in os.walk(source, followlinks=True))
  shared: dict[tuple[str, ...], tuple[str, ...]] = {}  # one copy of equal name lists
  sequences = []
  for folder in folders:
    names = tuple(frame_names(folder))
    if len(names) >= min_frames:
      sequences.append(Sequence(folder, shared.setdefault(names, names)))
  if not sequences:
    raise ValueError(f"{source}: no folder with at least {min_frames} frames "
                     f"({', '.join(image_io.IMAGE_EXTENSIONS)})")
  return sequences


def read_clip(sequence: Sequence, start: int, frames: int) -> np.ndarray:
  """uint8 (T, H, W, 3): frames ``start .. start + T - 1`` of a sequence."""
  paths = [os.path.join(sequence.folder, n) for n in sequence.names[start:start + frames]]
  clip = [image_io.read_rgb(p) for p in paths]
  if len({c.shape for c in clip}) > 1:
    raise ValueError(f"{sequence.folder}: frames of different sizes in a clip ({paths})")
  return np.stack(clip)


def clip_memory_bound(frames: int, patch_size: int, batch_size: int, max_frame_pixels: int,
                      num_sequences: int = 0) -> int:
  """Upper bound in bytes of the data :func:`clip_dataset` holds, for frames of at most
  ``max_frame_pixels`` pixels: the clips being decoded (each frame in its decoding copies,
  see :data:`~tfc_swin.training.data.DECODE_COPIES`), their crops, the prefetched float32
  batches, the shuffled window indexes and the sequence names. TensorFlow's runtime comes on
  top. DAVIS 480p (854x480), 3 frames, 256x256 crops, batch 4: 63 MB."""
  crop = frames * patch_size * patch_size * 3
  decoding = data.DECODE_PARALLELISM * (frames * data.DECODE_COPIES * 3 * max_frame_pixels
                                        + 4 * crop)
  batches = (data.PREFETCH_BATCHES + 1) * batch_size * crop * 4
  return decoding + batches + num_sequences * (data.FILE_NAME_BYTES + 8 * frames)


def clip_dataset(source: str, frames: int, patch_size: int, batch_size: int,
                 seed: int | None = None) -> tf.data.Dataset:
  """Infinite dataset of float32 batches (B, T, patch, patch, 3) in [0, 255] (module
  docstring); frames smaller than the patch are upscaled (the whole clip alike)."""
  sequences = find_sequences(source, frames)
  windows = np.array([len(s.names) - frames + 1 for s in sequences])
  ends = np.cumsum(windows)

  def read(index: np.int64) -> np.ndarray:
    i = int(np.searchsorted(ends, index, side="right"))
    return read_clip(sequences[i], int(index - (ends[i] - windows[i])), frames)

  def random_clip(index: tf.Tensor) -> tf.Tensor:
    clip = tf.numpy_function(read, [index], tf.uint8, stateful=False)
    clip.set_shape([frames, None, None, 3])
    clip = tf.image.random_crop(data.upscale_to(clip, patch_size),
                                [frames, patch_size, patch_size, 3])
    return tf.cast(clip, tf.float32)

  total = int(ends[-1])
  indexes = tf.data.Dataset.range(total).shuffle(total, seed=seed).repeat()
  return data.with_fixed_buffers(
      indexes.map(random_clip, num_parallel_calls=data.DECODE_PARALLELISM)
      .batch(batch_size, drop_remainder=True).prefetch(data.PREFETCH_BATCHES))


def center_clips(source: str, frames: int, size: int, count: int) -> tf.Tensor:
  """float32 (N, T, size, size, 3): the centre crops of the first ``frames`` frames of the
  first ``count`` sequences of ``source`` (a fixed validation set)."""
  return tf.stack([
      tf.stack([data.center_crop(image_io.read_rgb(os.path.join(s.folder, n)), size)
                for n in s.names[:frames]])
      for s in find_sequences(source, frames)[:count]])


@dataclasses.dataclass
class VideoTrainConfig(TrainConfig):
  """A video training run: the image run's fields (some with video meanings) plus the clip
  length, the I-frame codec's start and freezing, the flow-loss period and the reversal."""
  model: str = flag_field("Video config name: conv-ssf, swint-ssf, swint-ssf-res, each also with "
                      "-cpu (I-frame codec swint-hyperprior-cpu) or -tiny (tests).")
  data: str = flag_field("Training sequences: a folder searched recursively, every folder of at "
                     "least --frames frames being a sequence (e.g. ../shared/data/video/train),"
                     " or a Vimeo-90k septuplet folder (sequences/<a>/<b>/im1..im7.png; only "
                     "the sequences of its sep_trainlist.txt if present).")
  batch_size: int = flag_field("Clips per step (global); with --reverse_order each is also coded "
                           "backwards, so 2x as many (B.1: 4 with the reversal).", 4)
  init_from: str = flag_field("Video training run folder or checkpoint to start the whole P-frame "
                          "model from (e.g. a run at another lambda); --init_iframe, if given, "
                          "then replaces the I-frame codec.", "")
  eval_data: str = flag_field("Validation sequences (found as for --data): the centre crops of the "
                          "first --frames frames of the first --eval_images sequences, coded "
                          "with rounding every --eval_every steps (PSNR/bpp over the clip to "
                          "log, TensorBoard and progress.json); empty = off.", "")
  eval_images: int = flag_field("Number of validation sequences (one clip each).", 4)
  frames: int = flag_field("Frames per training clip: an I frame, then frames - 1 P frames "
                       "(at least 2; Vimeo-90k septuplets have 7).", 3)
  init_iframe: str = flag_field("Image model for the I-frame codec at the start of a run (not on "
                            "resume): an exported SavedModel (e.g. zoo/swint-hyperprior-cpu/4/"
                            "q2), an image training run folder or checkpoint, with the video "
                            "config's I-frame config.", "")
  init_residual: str = flag_field("Image model to start the residual codec from at the start of a "
                              "run (a warm start, not on resume): a SavedModel, run folder or "
                              "checkpoint with the same weight shapes (the -cpu SwinT residual "
                              "codecs have the transform of swint-hyperprior-cpu).", "")
  freeze_iframe: bool = flag_field("Do not train the I-frame codec (kept as --init_iframe gave "
                               "it; no gradients, inference mode). Fixed for the whole run.",
                               False)
  flow_loss_steps: int = flag_field("Add the flow loss (MSE of the warped reference vs the frame) "
                                "during the first this many steps (B.1: 200K); 0 = never.",
                                200_000)
  reverse_order: bool = flag_field("Also code each clip in reversed frame order in the same step "
                               "(B.1).", True)


class VideoTrainer(Trainer):
  """:class:`Trainer` for a :class:`~tfc_swin.codecs.video.PFrameCodec` on clips."""

  resume_locked = RESUME_LOCKED + ("freeze_iframe",)
  eval_items = "clips"
  codec: PFrameCodec
  config: VideoTrainConfig

  def __init__(self, config: VideoTrainConfig, dataset: tf.data.Dataset | None = None):
    if config.frames < 2:
      raise ValueError(f"--frames must be at least 2 (an I and a P frame), got {config.frames}")
    if config.transform_options:
      raise ValueError("--transform_options applies to image configs only")
    super().__init__(config, dataset)

  def _build_codec(self) -> PFrameCodec:
    return build_video_codec(self.config.model, self.config.freeze_iframe)

  def _variables(self) -> list[tf.Variable]:
    return self.codec.training_variables

  def _default_dataset(self) -> tf.data.Dataset:
    cfg = self.config
    return clip_dataset(cfg.data, cfg.frames, cfg.patch_size, cfg.batch_size, seed=cfg.seed)

  def _eval_batch(self) -> tf.Tensor:
    cfg = self.config
    return center_clips(cfg.eval_data, cfg.frames, cfg.eval_size, cfg.eval_images)

  def _initialize(self) -> str:
    done = []
    if self.config.init_from:
      self._init_checkpoint = self.codec.restore(self.config.init_from)
      done.append(f"the P-frame model from {self._init_checkpoint}")
    for part, source, what in (("iframe", self.config.init_iframe, "the I-frame codec"),
                               ("residual", self.config.init_residual, "the residual codec")):
      if source:
        done.append(f"{what} from {self.codec.init_part(part, source)}")
    return "initialized " + " and ".join(done) if done else "started from scratch"

  @property
  def items_per_batch(self) -> int:
    return self.config.batch_size * (2 if self.config.reverse_order else 1)

  def _forward(self, x: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Per clip: sum over frames of D + lambda R, plus the flow loss while it is on."""
    if self.config.reverse_order:
      x = with_reversed_order(x)
    out = self.codec(x, training=True)
    flow = tf.reduce_sum(out["flow_loss"], axis=1)
    flow_on = tf.cast(self.optimizer.iterations < self.config.flow_loss_steps, tf.float32)
    loss = tf.reduce_sum(rd_loss(out, self.config.lmbda), axis=1) + flow_on * flow
    return loss, {"bpp": tf.reduce_mean(out["bpp"], axis=1),
                  "mse": tf.reduce_mean(out["mse"], axis=1),
                  "flow_loss": flow / (self.config.frames - 1)}

  def validate(self) -> dict[str, float]:
    """Mean PSNR (over each clip's pixels) and bpp of the validation clips, with rounding."""
    psnr, bpp = [], []
    for clip in tf.unstack(self._eval_x):
      out = self.codec(clip[None], training=False)
      mse = tf.reduce_mean(tf.math.squared_difference(
          tf.clip_by_value(out["x_hat"][0], 0, 255), clip))
      psnr.append(psnr_from_mse(float(mse)))
      bpp.append(float(tf.reduce_mean(out["bpp"])))
    return {"psnr": sum(psnr) / len(psnr), "bpp": sum(bpp) / len(bpp)}

  def _image_summary(self, writer, x, step: int) -> None:
    clip = self.strategy.experimental_local_results(x)[0][:1]
    x_hat = tf.clip_by_value(self.codec(clip, training=False)["x_hat"], 0, 255)
    pairs = tf.concat([clip[0], x_hat[0]], axis=2) / 255  # one image per frame
    with writer.as_default(step=step):
      tf.summary.image("frames: original|reconstruction", pairs, max_outputs=self.config.frames)
