"""Training data: random crops from a local image folder/glob, or a TFDS dataset (App. B.1).

The pipeline streams: each image is decoded when its turn comes, cut into
:data:`CROPS_PER_IMAGE` random crops, and dropped; only crops are buffered (shuffled across
images). Nothing grows with the number of images except the shuffled list of file names, so
the memory the pipeline holds is bounded by :func:`memory_bound` for a folder of any size.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import tensorflow as tf

from tfc_swin import image_io

Decoder = Callable[[tf.Tensor], tf.Tensor]  # a file name or encoded image -> uint8 image

#: Images decoded at the same time (each decoded, cropped and dropped; never cached).
DECODE_PARALLELISM = 2
#: Random crops cut from each decoded image (amortizes decoding a large image).
CROPS_PER_IMAGE = 4
#: Crops shuffled across images (uint8).
CROP_BUFFER = 256
#: Batches (float32) prepared ahead of the training step.
PREFETCH_BATCHES = 2
#: Copies of a decoded image alive while it is decoded and cropped (Pillow's decoded image,
#: its RGB conversion, the array handed to TensorFlow, the tensor).
DECODE_COPIES = 4
#: Bytes per file name kept in the shuffled list of a folder (the one part that grows with
#: the folder; 1 MB for 10,000 images).
FILE_NAME_BYTES = 100


def memory_bound(patch_size: int, batch_size: int, max_image_pixels: int,
                 num_files: int = 0) -> int:
  """Upper bound in bytes of the data :func:`image_dataset` holds, for images of at most
  ``max_image_pixels`` pixels: the images being decoded, the crops cut from them, the crop
  shuffle buffer, the prefetched batches and the file names. TensorFlow's own runtime
  (threads, traced functions; about 15 MB measured) and, for ``tfds:``, the TFDS reader's
  buffers come on top. At 256x256 crops and batch 8: 165 MB for 2048x2048 images, 132 MB for
  CLIC's 2048x1365; 26 MB for 128x128 crops of Kodak-sized images."""
  crop = patch_size * patch_size * 3
  decoding = DECODE_PARALLELISM * (DECODE_COPIES * 3 * max_image_pixels + CROPS_PER_IMAGE * crop)
  batches = PREFETCH_BATCHES * batch_size * crop * 4
  return decoding + CROP_BUFFER * crop + batches + FILE_NAME_BYTES * num_files


def upscale_to(image: tf.Tensor, size: int) -> tf.Tensor:
  """``image`` (H, W, 3), or frames (T, H, W, 3), upscaled (bicubic, uint8) so that its
  shorter side is at least ``size``."""
  shape = tf.shape(image)
  short = tf.minimum(shape[-3], shape[-2])

  def upscale():
    scale = tf.cast(size, tf.float32) / tf.cast(short, tf.float32)
    new = tf.cast(tf.math.ceil(tf.cast(shape[-3:-1], tf.float32) * scale), tf.int32)
    resized = tf.image.resize(tf.cast(image, tf.float32), tf.maximum(new, size), "bicubic")
    return tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8)

  return tf.cond(short < size, upscale, lambda: image)


def random_crop(image: tf.Tensor, size: int) -> tf.Tensor:
  """A random ``size`` x ``size`` uint8 crop; smaller images are first upscaled to fit."""
  return tf.image.random_crop(upscale_to(image, size), [size, size, 3])


def _random_crops(image: tf.Tensor, size: int, count: int) -> tf.Tensor:
  image = upscale_to(image, size)
  return tf.stack([tf.image.random_crop(image, [size, size, 3]) for _ in range(count)])


def center_crops(source: str, size: int, count: int) -> tf.Tensor:
  """The centre ``size`` x ``size`` crops of the first ``count`` images of a folder/glob
  (sorted; smaller images upscaled as in :func:`random_crop`): a fixed validation batch."""
  return tf.stack([center_crop(image_io.read_rgb(path), size)
                   for path in image_io.list_images(source, count)])


def center_crop(rgb: np.ndarray, size: int) -> tf.Tensor:
  """The float32 centre ``size`` x ``size`` crop of a uint8 image (upscaled if smaller)."""
  image = tf.cast(rgb, tf.float32)
  short = min(image.shape[0], image.shape[1])
  if short < size:
    new = [max(size, math.ceil(side * size / short)) for side in image.shape[:2]]
    image = tf.clip_by_value(tf.image.resize(image, new, "bicubic"), 0, 255)
  top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
  return image[top:top + size, left:left + size]


def _decoded(fn: Callable, arg: tf.Tensor) -> tf.Tensor:
  image = tf.numpy_function(fn, [arg], tf.uint8, stateful=False)
  image.set_shape([None, None, 3])
  return image


def _read(path: tf.Tensor) -> tf.Tensor:
  return _decoded(lambda p: image_io.read_rgb(p.decode()), path)


def _folder_images(source: str, seed: int | None) -> tuple[tf.data.Dataset, Decoder]:
  files = [str(p) for p in image_io.list_images(source)]
  paths = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed).repeat()
  return paths, _read


def _tfds_images(name: str, split: str) -> tuple[tf.data.Dataset, Decoder]:
  """Encoded images of a TFDS dataset (downloaded and prepared on first use)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  builder = tfds.builder(name)
  builder.download_and_prepare()
  encoded = builder.as_dataset(split=split, shuffle_files=True,
                               decoders={"image": tfds.decode.SkipDecoding()})
  return (encoded.map(lambda d: d["image"]).repeat(),
          lambda data: _decoded(image_io.decode_rgb, data))


def with_fixed_buffers(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """The pipeline with exactly the buffers it names: tf.data's autotuning, its injected
  prefetches and its map-and-batch fusion off, so the decoded data in flight (and the memory
  bounds stated for it) cannot grow with spare CPU. (With the fusion on, one CI run read 12
  clips where the named buffers of ``tests/test_video_training.py`` hold 6.)"""
  options = tf.data.Options()
  options.autotune.enabled = False
  options.experimental_optimization.inject_prefetch = False
  options.experimental_optimization.map_and_batch_fusion = False
  return dataset.with_options(options)


def image_dataset(source: str, patch_size: int, batch_size: int, tfds_split: str = "train",
                  seed: int | None = None) -> tf.data.Dataset:
  """Infinite dataset of float32 batches (B, patch, patch, 3) in [0, 255].

  ``source`` is a folder or glob of images, or ``tfds:NAME`` for a TensorFlow Datasets
  dataset with an ``image`` feature (e.g. ``tfds:clic``; needs the ``tfds`` extra and network
  access to download). Memory: see :func:`memory_bound`.
  """
  if source.startswith("tfds:"):
    images, decode = _tfds_images(source[len("tfds:"):], tfds_split)
  else:
    images, decode = _folder_images(source, seed)
  crops = images.map(lambda im: _random_crops(decode(im), patch_size, CROPS_PER_IMAGE),
                     num_parallel_calls=DECODE_PARALLELISM)
  return with_fixed_buffers(crops.unbatch().shuffle(CROP_BUFFER, seed=seed)
                            .map(lambda crop: tf.cast(crop, tf.float32))
                            .batch(batch_size, drop_remainder=True).prefetch(PREFETCH_BATCHES))
