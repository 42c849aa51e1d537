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
The flags are the fields of tfc_swin.training.TrainConfig, plus --threads and --logical_cpus.
"""
import os

from absl import app, flags

from tfc_swin.training import Trainer, config
from tfc_swin.training.trainer import main_log, setup_devices

FLAGS = flags.FLAGS
config.define_flags()
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0 = TensorFlow's default).")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical devices "
                     "(to test --strategy mirrored without GPUs).")


def main(argv):
  del argv
  setup_devices(FLAGS.threads, FLAGS.logical_cpus)
  train_config = config.from_flags()
  os.makedirs(train_config.run_dir, exist_ok=True)
  Trainer(train_config).train(log=main_log)


if __name__ == "__main__":
  app.run(main)
