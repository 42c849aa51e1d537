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
from absl import app, flags

from tfc_swin.training import config
from tfc_swin.training.trainer import run_binary

REQUIRED = config.define_flags(mark_required=False)
config.define_device_flags()


def main(argv: list[str]) -> None:
  del argv
  run_binary()


if __name__ == "__main__":
  flags.mark_flags_as_required(REQUIRED)  # here: tests import the module
  app.run(main)
