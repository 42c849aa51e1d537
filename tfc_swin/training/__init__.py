"""Training: run configuration, data pipeline, run folders, --init_from and the distributed
rate-distortion trainer; the P-frame video trainer is :mod:`tfc_swin.training.video`."""
from tfc_swin.training.config import TrainConfig
from tfc_swin.training.data import image_dataset, memory_bound, random_crop
from tfc_swin.training.trainer import Trainer, make_strategy, rd_loss
from tfc_swin.training.warm_start import init_from

__all__ = ["TrainConfig", "Trainer", "image_dataset", "init_from", "make_strategy",
           "memory_bound", "random_crop", "rd_loss"]
