"""Rate-distortion training loop with tf.distribute, checkpoints and resume (Zhu et al. App. B.1).

Loss: ``L = D + lambda * R`` with D the mean squared error of RGB values in [0, 255] and R the
bits per 256x256 crop (``65536 * bpp``), i.e. exactly the paper's convention at its patch size
and the same trade-off for any other patch size. Adam, learning rate 1e-4 dropped to 1e-5 for
the last steps.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import shutil
import signal
import sys
import time
from typing import Any, Callable

import tensorflow as tf
from absl import flags

from tfc_swin.codecs import build_codec
from tfc_swin.eval.metrics import psnr_from_mse
from tfc_swin.layers.compiled import compiled_elementwise
from tfc_swin.layers.precision import bfloat16_matmuls, float32_entropy_parameters
from tfc_swin.layers.swin import recompute_swin_blocks
from tfc_swin.training import run_dir
from tfc_swin.training import config as config_lib
from tfc_swin.training.config import TrainConfig, codec_config
from tfc_swin.training.data import center_crops, image_dataset
from tfc_swin.training.warm_start import init_from

PIXELS_PER_RATE_UNIT = 256 * 256
MAX_NONFINITE_STEPS = 50  # consecutive skipped steps before a run is declared diverged
# A resumed run must keep these (train_config.json; a field an older run lacks: its default).
RESUME_LOCKED = ("model", "lmbda", "transform_options")


class LearningRate(tf.keras.optimizers.schedules.LearningRateSchedule):
  """The learning rate at a step: optional linear warm-up, then either the paper's step
  schedule (``learning_rate`` until ``drop_step``, then ``final_learning_rate``; B.1) or a
  cosine decay from ``learning_rate`` to ``final_learning_rate`` at ``steps``."""

  def __init__(self, config: TrainConfig):
    if config.lr_schedule not in ("step", "cosine"):
      raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}: use step or cosine")
    self.kind, self.warmup = config.lr_schedule, float(config.warmup_steps)
    self.peak, self.final = float(config.learning_rate), float(config.final_learning_rate)
    self.drop, self.total = float(config.drop_step), float(config.steps)

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    if self.kind == "step":
      lr = tf.where(step < self.drop, self.peak, self.final)
    else:
      span = max(self.total - self.warmup, 1.0)
      progress = tf.clip_by_value((step - self.warmup) / span, 0.0, 1.0)
      lr = self.final + 0.5 * (self.peak - self.final) * (1 + tf.cos(math.pi * progress))
    if self.warmup:
      lr *= tf.minimum(1.0, (step + 1) / self.warmup)
    return lr

  def get_config(self) -> dict[str, Any]:
    return {"kind": self.kind, "warmup": self.warmup, "peak": self.peak, "final": self.final,
            "drop": self.drop, "total": self.total}


def make_strategy(name: str) -> tf.distribute.Strategy:
  """``default`` (one device), ``mirrored`` (all local devices) or ``multi_worker`` (TF_CONFIG)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if tf.config.list_logical_devices("GPU"):
      return tf.distribute.MirroredStrategy()
    # Collective all-reduce between logical CPU devices can deadlock on small inter-op
    # thread pools; on CPUs reduce through one device instead.
    return tf.distribute.MirroredStrategy(cross_device_ops=tf.distribute.ReductionToOneDevice())
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f"unknown strategy {name!r}: use default, mirrored or multi_worker")


def rd_loss(out: dict[str, tf.Tensor], lmbda: float) -> tf.Tensor:
  """Per-image rate-distortion loss D + lambda * R (see module docstring)."""
  return out["mse"] + lmbda * out["bpp"] * PIXELS_PER_RATE_UNIT


class SkippingAdam(tf.keras.optimizers.Adam):
  """Adam whose update leaves weights, moments and the step count untouched while ``skip`` (a
  boolean tensor set around ``apply_gradients``) is true: one ``tf.cond`` around the whole
  update, not one per variable."""

  skip = None

  def _distributed_apply_gradients_fn(self, distribution: tf.distribute.Strategy,
                                      grads_and_vars: Any, **kwargs: Any) -> tf.Tensor:
    apply = lambda: super(SkippingAdam, self)._distributed_apply_gradients_fn(  # noqa: E731
        distribution, grads_and_vars, **kwargs)
    if self.skip is None:
      return apply()
    return tf.cond(self.skip, lambda: tf.identity(self.iterations), apply)


class Trainer:
  """Owns the codec, optimizer, checkpoints and summaries of one training run.

  Subclasses (the video trainer) replace the model-specific pieces: :meth:`_build_codec`,
  :meth:`_variables`, :meth:`_default_dataset`, :meth:`_eval_batch`, :meth:`_initialize`,
  :meth:`_forward`, :meth:`validate` and :meth:`_image_summary`.
  """

  #: train_config.json fields a resumed run must keep.
  resume_locked = RESUME_LOCKED
  #: What the validation inputs are called in the log.
  eval_items = "crops"

  def __init__(self, config: TrainConfig, dataset: tf.data.Dataset | None = None):
    if config.initial_step and not (config.init_from and 0 < config.initial_step < config.steps):
      raise ValueError(f"--initial_step {config.initial_step} continues a run from an export of "
                       f"it: give --init_from, and --steps above it (got {config.steps})")
    if config.recompute_gelu and not (config.xla_elementwise and config.bfloat16_matmuls):
      raise ValueError("--recompute_gelu needs --xla_elementwise and --bfloat16_matmuls (it "
                       "is part of their fused bfloat16 MLP)")
    self.config = config
    self.strategy = make_strategy(config.strategy)
    resolver = getattr(self.strategy, "cluster_resolver", None)
    self.task_id = resolver.task_id if resolver and resolver.task_type else 0
    self.is_chief = self.task_id == 0
    tf.keras.utils.set_random_seed(config.seed)
    with self.strategy.scope():
      with float32_entropy_parameters():  # Same weights; coding codecs use float64.
        self.codec = self._build_codec()
      if config.recompute:
        recompute_swin_blocks(self.codec)
      self.learning_rate = LearningRate(config)
      self.optimizer = SkippingAdam(self.learning_rate)
      self.optimizer.build(self._variables())
    self.checkpoint = tf.train.Checkpoint(model=self.codec, optimizer=self.optimizer)
    ckpt_dir = run_dir.checkpoint_dir(config.run_dir)
    if not self.is_chief:  # Other workers write throw-away copies (tf.distribute convention).
      ckpt_dir = os.path.join(config.run_dir, f"worker{self.task_id}-tmp")
    self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=2)
    per_replica = config.batch_size // self.strategy.num_replicas_in_sync
    if per_replica * self.strategy.num_replicas_in_sync != config.batch_size:
      raise ValueError(f"batch size {config.batch_size} does not split over "
                       f"{self.strategy.num_replicas_in_sync} replicas")
    if dataset is None:
      dataset = self._default_dataset()
    self.dataset = self.strategy.experimental_distribute_dataset(dataset)
    self._eval_x = self._eval_batch() if config.eval_data and self.is_chief else None
    self._stop = False
    self._init_checkpoint = ""

  def _build_codec(self) -> tf.Module:
    return build_codec(codec_config(dataclasses.asdict(self.config)))

  def _variables(self) -> list[tf.Variable]:
    """The variables the optimizer updates."""
    return self.codec.trainable_variables

  def _default_dataset(self) -> tf.data.Dataset:
    cfg = self.config
    return image_dataset(cfg.data, cfg.patch_size, cfg.batch_size, seed=cfg.seed)

  def _eval_batch(self) -> tf.Tensor:
    """The fixed validation inputs (of ``eval_data``)."""
    return center_crops(self.config.eval_data, self.config.eval_size, self.config.eval_images)

  @property
  def step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  def restore_or_initialize(self) -> str:
    """Resumes from the last checkpoint of this run, else applies ``init_from``."""
    if self.manager.latest_checkpoint:
      self._check_resume_config()
      # --init_from only starts a new run; a resumed run keeps the one it started from, so
      # that its history (run_history, the zoo manifest) still reaches the earlier stages.
      started_from = run_dir.read_config(self.config.run_dir).get("init_from", "")
      self.config = dataclasses.replace(self.config, init_from=started_from)
      self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
      return f"resumed from {self.manager.latest_checkpoint} at step {self.step}"
    message = self._initialize()
    if self.config.initial_step:
      self.optimizer.iterations.assign(self.config.initial_step)
      message += f"; continuing at step {self.step} of {self.config.steps}"
    return message

  def _initialize(self) -> str:
    """Starts a new run: applies ``init_from``; says what was done."""
    if self.config.init_from:
      self._init_checkpoint, parts = init_from(self.codec, self.config.init_from)
      return f"initialized {', '.join(parts)} from {self._init_checkpoint}"
    return "started from scratch"

  def _check_resume_config(self) -> None:
    """A run resumes with the model and lambda it started with (other flags may change)."""
    if not run_dir.is_run(self.config.run_dir):
      return
    stored = run_dir.read_config(self.config.run_dir)
    defaults = {f.name: f.default for f in dataclasses.fields(self.config)}
    for key in self.resume_locked:
      was = stored.get(key, defaults[key])
      if was != getattr(self.config, key):
        raise ValueError(
            f"{self.config.run_dir} was trained with {key}={was!r}, not "
            f"{getattr(self.config, key)!r}; resume it unchanged, or start a new run dir with "
            f"--init_from {self.config.run_dir}")

  @property
  def items_per_batch(self) -> int:
    """Items of a global batch the loss averages over (the video trainer doubles clips)."""
    return self.config.batch_size

  def _forward(self, x: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Training-mode forward pass of a replica's batch: the loss per item and the per-item
    metrics to log (``bpp`` and ``mse`` at least)."""
    out = self.codec(x, training=True)
    return rd_loss(out, self.config.lmbda), {"bpp": out["bpp"], "mse": out["mse"]}

  def _train_step_fn(self):
    batch = self.items_per_batch

    def replica_step(x):
      with tf.GradientTape() as tape:
        per_item, metrics = self._forward(x)
        loss = tf.nn.compute_average_loss(per_item, global_batch_size=batch)
      variables = self._variables()
      grads = [tf.zeros_like(v) if g is None else g
               for g, v in zip(tape.gradient(loss, variables), variables)]
      finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads + [loss]])
      if self.config.clip_norm:
        grads, _ = tf.clip_by_global_norm(grads, self.config.clip_norm)
      # A non-finite step (on any replica) is skipped: weights, Adam moments and the step
      # counter stay as they were.
      skip = tf.distribute.get_replica_context().all_reduce(
          "SUM", 1.0 - tf.cast(finite, tf.float32)) > 0
      self.optimizer.skip = skip
      self.optimizer.apply_gradients(zip(grads, variables))
      self.optimizer.skip = None
      finite = tf.logical_not(skip)
      sums = lambda t: tf.reduce_sum(t) / batch  # noqa: E731
      return {"loss": sums(per_item), **{k: sums(v) for k, v in metrics.items()},
              "skipped": 1.0 - tf.cast(finite, tf.float32)}

    @tf.function
    def train_step(iterator):
      x = next(iterator)
      fused = (compiled_elementwise(self.config.recompute_gelu) if self.config.xla_elementwise
               else contextlib.nullcontext())
      # XLA-fused LayerNorm / GELU (and their gradients); bfloat16 matmuls.
      with fused, bfloat16_matmuls(self.config.bfloat16_matmuls):
        results = self.strategy.run(replica_step, args=(x,))
      return {k: self.strategy.reduce("SUM", v, axis=None) for k, v in results.items()}, x

    return train_step

  def _save(self) -> None:
    self.manager.save(checkpoint_number=self.step)
    if not self.is_chief:
      shutil.rmtree(self.manager.directory, ignore_errors=True)
      return
    segment = self._progress["segments"][-1]
    segment["end_step"], segment["seconds"] = self.step, round(time.time() - self._t0, 1)
    run_dir.write_progress(self.config.run_dir, self._progress)

  def _start_segment(self) -> None:
    """Opens this process's entry in ``progress.json`` (steps and wall time per segment)."""
    self._t0 = time.time()
    self._progress = run_dir.read_progress(self.config.run_dir)
    if self._init_checkpoint:
      self._progress["init_checkpoint"] = self._init_checkpoint
    self._progress["segments"].append({
        "start_step": self.step, "end_step": self.step, "seconds": 0.0,
        "host": platform.node(), "replicas": self.strategy.num_replicas_in_sync,
        "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
        "cpu_threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
        "lmbda": self.config.lmbda, "learning_rate": self.config.learning_rate,
        "final_learning_rate": self.config.final_learning_rate,
        "lr_drop_step": self.config.drop_step, "lr_schedule": self.config.lr_schedule,
        "warmup_steps": self.config.warmup_steps,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

  def train(self, log: Callable[[str], None] = print) -> dict[str, float]:
    """Runs until ``steps``, the time budget, or SIGTERM/SIGINT; checkpoints on the way out."""
    log(self.restore_or_initialize())
    cfg = self.config  # As restored (a resumed run keeps its init_from).
    if self.is_chief:
      os.makedirs(cfg.run_dir, exist_ok=True)
      run_dir.write_config(cfg.run_dir, dataclasses.asdict(cfg))
      self._start_segment()
    writer = (tf.summary.create_file_writer(os.path.join(cfg.run_dir, "summaries"))
              if self.is_chief else tf.summary.create_noop_writer())
    for sig in (signal.SIGTERM, signal.SIGINT):
      signal.signal(sig, lambda *_: setattr(self, "_stop", True))
    if self._eval_x is not None and self.step == cfg.initial_step and cfg.init_from:
      self._validate(writer, self.step, log)  # where a fork starts (``--steps 0``: only that)
    train_step = self._train_step_fn()
    iterator = iter(self.dataset)
    start, start_step = time.time(), self.step
    last, skipped, bad_run = {}, 0, 0
    while self.step < cfg.steps and not self._stop:
      metrics, x = train_step(iterator)
      step = self.step
      bad = float(metrics["skipped"]) > 0
      skipped, bad_run = skipped + bad, bad_run + 1 if bad else 0
      if bad_run >= MAX_NONFINITE_STEPS:
        raise FloatingPointError(
            f"training diverged: {bad_run} non-finite steps in a row at step {step}; last "
            f"checkpoint {self.manager.latest_checkpoint} is kept. Lower --learning_rate "
            f"or set --clip_norm.")
      if step % cfg.log_every == 0 or step == cfg.steps:
        last = {k: float(v) for k, v in metrics.items()}
        last["psnr"] = psnr_from_mse(last["mse"])
        rate = (step - start_step) / max(time.time() - start, 1e-9)
        eta = (cfg.steps - step) / max(rate, 1e-9)
        extra = "".join(f" {k} {v:.4g}" for k, v in last.items()
                        if k not in ("loss", "bpp", "mse", "psnr", "skipped"))
        log(f"step {step}/{cfg.steps} loss {last['loss']:.3f} bpp {last['bpp']:.4f} "
            f"psnr {last['psnr']:.2f} dB{extra} | {rate:.3f} steps/s, ETA {eta / 3600:.1f} h"
            + (f" | {skipped:.0f} non-finite steps skipped" if skipped else ""))
        with writer.as_default(step=step):
          for k, v in last.items():
            tf.summary.scalar(k, v)
          tf.summary.scalar("learning_rate", float(self.learning_rate(step)))
      if self.is_chief and step % cfg.image_summary_every == 0:
        self._image_summary(writer, x, step)
      if self._eval_x is not None and step % cfg.eval_every == 0:
        self._validate(writer, step, log)
      if step % cfg.checkpoint_every == 0 and not bad:
        self._save()
      if cfg.max_minutes and time.time() - start > 60 * cfg.max_minutes:
        log(f"time budget of {cfg.max_minutes} min reached")
        break
    self._save()
    writer.flush()
    log(f"stopped at step {self.step}; weights fingerprint {self.codec.fingerprint()}; "
        f"replica divergence {self.replica_divergence():.3g}")
    return last

  def replica_divergence(self) -> float:
    """Largest difference between the local replicas' copies of any weight (0 = in sync)."""
    worst = 0.0
    for v in self.codec.variables:
      copies = [t.numpy() for t in getattr(v, "values", (v,))]
      worst = max([worst] + [float(abs(c - copies[0]).max()) for c in copies[1:]])
    return worst

  def validate(self) -> dict[str, float]:
    """Mean PSNR (per image) and bpp of the fixed validation crops, with rounding (no noise)."""
    psnr, bpp = [], []
    for chunk in tf.split(self._eval_x, len(self._eval_x)):
      out = self.codec(chunk, training=False)
      mse = tf.reduce_mean(tf.math.squared_difference(
          tf.clip_by_value(out["x_hat"], 0, 255), chunk))
      psnr.append(psnr_from_mse(float(mse)))
      bpp.append(float(out["bpp"][0]))
    return {"psnr": sum(psnr) / len(psnr), "bpp": sum(bpp) / len(bpp)}

  def _validate(self, writer, step: int, log) -> None:
    result = self.validate()
    log(f"validation at step {step}: psnr {result['psnr']:.2f} dB bpp {result['bpp']:.4f} "
        f"({len(self._eval_x)} {self.eval_items} of {self.config.eval_size})")
    with writer.as_default(step=step):
      for k, v in result.items():
        tf.summary.scalar(f"validation/{k}", v)
    self._progress.setdefault("validation", []).append({"step": step, **result})

  def _image_summary(self, writer, x, step: int) -> None:
    x = self.strategy.experimental_local_results(x)[0][:2]
    x_hat = self.codec(x, training=False)["x_hat"]
    pair = tf.concat([x, tf.clip_by_value(x_hat, 0, 255)], axis=2) / 255
    with writer.as_default(step=step):
      tf.summary.image("original|reconstruction", pair, max_outputs=2)


def setup_devices(threads: int = 0, logical_cpus: int = 0) -> None:
  """The ``--threads`` and ``--logical_cpus`` flags of the training binaries: TF's intra- and
  inter-op threads (0 = TF's default), and the CPU split into logical devices (to try
  ``--strategy mirrored`` without GPUs; 0 = no split)."""
  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  if logical_cpus:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)


def run_binary(config_class: type = TrainConfig, trainer_class: type = None,
               flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The body of the training binaries: devices from ``--threads`` / ``--logical_cpus``, the
  config from the other flags (:func:`~tfc_swin.training.config.define_flags`), then train."""
  setup_devices(flag_values.threads, flag_values.logical_cpus)
  train_config = config_lib.from_flags(flag_values, config_class)
  os.makedirs(train_config.run_dir, exist_ok=True)
  (trainer_class or Trainer)(train_config).train(log=main_log)


def main_log(msg: str) -> None:
  print(time.strftime("%H:%M:%S"), msg, flush=True, file=sys.stderr)
