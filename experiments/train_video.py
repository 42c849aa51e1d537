"""Trains one P-frame video codec at one rate point (Zhu et al. 2022 sec. 4.1, App. B.1).

CPU-sized SwinT-SSF on the DAVIS clips, I-frame codec from the shipped image model, frozen:
  python experiments/train_video.py --model swint-ssf-cpu --lmbda 0.001 \
      --data ../shared/data/video/train --run_dir runs/swint-ssf-cpu-0.001 \
      --init_iframe zoo/swint-hyperprior-cpu/4/q2 --freeze_iframe \
      --patch_size 128 --batch_size 2 --frames 3 --steps 100000 --max_minutes 150

Paper scale on GPUs (Vimeo-90k septuplets, 1M steps at 1e-4 then 50K at 1e-5, batch 4 with
the reversed-order trick, flow loss for the first 200K steps):
  python experiments/train_video.py --model swint-ssf --lmbda 0.001 --data data/vimeo_septuplet \
      --run_dir runs/swint-ssf-0.001 --steps 1050000 --lr_drop_step 1000000 --frames 3 \
      --strategy mirrored

The loss per clip is the sum over its frames of D + lambda * R (the image trainer's
convention: MSE on [0, 255], R in bits per 256x256 pixels) plus the flow loss while it is on.
A killed run resumes from its run folder's last checkpoint. The flags are the fields of
tfc_swin.training.video.VideoTrainConfig, plus --threads and --logical_cpus.
"""
from absl import app, flags

from tfc_swin.training import config
from tfc_swin.training.trainer import run_binary
from tfc_swin.training.video import VideoTrainConfig, VideoTrainer

REQUIRED = config.define_flags(config_class=VideoTrainConfig, mark_required=False)
config.define_device_flags()


def main(argv: list[str]) -> None:
  del argv
  run_binary(VideoTrainConfig, VideoTrainer)


if __name__ == "__main__":
  flags.mark_flags_as_required(REQUIRED)  # here: tests import the module
  app.run(main)
