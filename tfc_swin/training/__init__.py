"""Training: data pipeline and the distributed rate-distortion trainer."""
from tfc_swin.training.data import image_dataset, list_images, random_crop
from tfc_swin.training.trainer import (TrainConfig, Trainer, init_transforms, make_strategy,
                                       rd_loss)

__all__ = ["TrainConfig", "Trainer", "image_dataset", "init_transforms", "list_images",
           "make_strategy", "random_crop", "rd_loss"]
