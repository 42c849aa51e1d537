"""Trains one codec at one rate point (Zhu et al. 2022 App. B.1).

Example (CPU-sized model on local images, background, resumable):
  python experiments/train.py --model conv-hyperprior-cpu --lmbda 0.001 \
      --data ../shared/data/train --run_dir runs/conv-hyperprior-cpu-0.001 \
      --patch_size 128 --steps 200000 --max_minutes 150

Paper scale on GPUs (CLIC2020 through TFDS, 2M steps, lr 1e-4 -> 1e-5 at 1.8M):
  python experiments/train.py --model swint-hyperprior --lmbda 0.001 --data tfds:clic \
      --run_dir runs/swint-hyperprior-0.001 --steps 2000000 --strategy mirrored

lambda follows the paper: L = D + lambda * R with D = MSE on [0, 255] RGB and R = bits per
256x256 crop. Grids: Zhu {0.003, 0.001, 0.0003, 0.0001, 0.00003}; AICT {1000, 200, 20, 3}e-5.
"""
import os

import tensorflow as tf
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Config registry name (see `tfc-swin models`).")
flags.DEFINE_float("lmbda", None, "Rate-distortion trade-off lambda (L = D + lambda R).")
flags.DEFINE_string("data", None, "Image folder or glob, or tfds:NAME (e.g. tfds:clic).")
flags.DEFINE_string("run_dir", None, "Run folder: checkpoints, summaries, train_config.json.")
flags.DEFINE_integer("steps", 2_000_000, "Total training steps.")
flags.DEFINE_integer("patch_size", 256, "Random crop size.")
flags.DEFINE_integer("batch_size", 8, "Global batch size.")
flags.DEFINE_float("learning_rate", 1e-4, "Initial learning rate.")
flags.DEFINE_float("final_learning_rate", 1e-5, "Learning rate after --lr_drop_step.")
flags.DEFINE_integer("lr_drop_step", None, "Step of the learning-rate drop (default 0.9*steps).")
flags.DEFINE_enum("lr_schedule", "step", ["step", "cosine"], "step: the paper's drop at "
                  "--lr_drop_step; cosine: decay to --final_learning_rate at --steps.")
flags.DEFINE_integer("warmup_steps", 0, "Linear learning-rate warm-up steps.")
flags.DEFINE_float("max_minutes", 0, "Stop (with a checkpoint) after this many minutes; 0=off.")
flags.DEFINE_string("init_from", "", "Run folder, checkpoint or SavedModel to take the "
                    "transforms and hyper prior from (e.g. SwinT-Hyperprior for SwinT-ChARM).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy.")
flags.DEFINE_integer("checkpoint_every", 500, "Steps between checkpoints.")
flags.DEFINE_integer("log_every", 50, "Steps between progress lines and scalar summaries.")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0 = TensorFlow's default).")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical devices "
                     "(to test --strategy mirrored without GPUs).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("eval_data", "", "Validation images (folder/glob): centre crops coded with "
                    "rounding every --eval_every steps (PSNR/bpp to log, TensorBoard and "
                    "progress.json); empty = off.")
flags.DEFINE_integer("eval_every", 1000, "Steps between validations.")
flags.DEFINE_integer("eval_images", 8, "Number of validation images (the first, sorted).")
flags.DEFINE_integer("eval_size", 256, "Validation crop size (multiple of 64).")
flags.DEFINE_float("clip_norm", 0.0, "Clip gradients to this global norm (0 = off, as in the "
                   "paper); non-finite steps are always skipped.")
flags.mark_flags_as_required(["model", "lmbda", "data", "run_dir"])


def main(argv):
  del argv
  from tfc_swin.training import TrainConfig, Trainer  # pylint: disable=import-outside-toplevel
  from tfc_swin.training.trainer import main_log  # pylint: disable=import-outside-toplevel
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  if FLAGS.logical_cpus:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.logical_cpus)
  config = TrainConfig(
      model=FLAGS.model, lmbda=FLAGS.lmbda, data=FLAGS.data, run_dir=FLAGS.run_dir,
      steps=FLAGS.steps, patch_size=FLAGS.patch_size, batch_size=FLAGS.batch_size,
      learning_rate=FLAGS.learning_rate, final_learning_rate=FLAGS.final_learning_rate,
      lr_drop_step=FLAGS.lr_drop_step, lr_schedule=FLAGS.lr_schedule,
      warmup_steps=FLAGS.warmup_steps, clip_norm=FLAGS.clip_norm, max_minutes=FLAGS.max_minutes,
      init_from=FLAGS.init_from, strategy=FLAGS.strategy,
      checkpoint_every=FLAGS.checkpoint_every, log_every=FLAGS.log_every, seed=FLAGS.seed,
      eval_data=FLAGS.eval_data, eval_every=FLAGS.eval_every, eval_images=FLAGS.eval_images,
      eval_size=FLAGS.eval_size)
  os.makedirs(config.run_dir, exist_ok=True)
  Trainer(config).train(log=main_log)


if __name__ == "__main__":
  app.run(main)
