"""Training data: random crops from a local image folder/glob, or a TFDS dataset (App. B.1)."""
from __future__ import annotations

import glob
import math
import os

import tensorflow as tf

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")


def list_images(pattern: str) -> list[str]:
  """Image files under a folder (recursively) or matching a glob, sorted.

  Raises a ValueError naming the pattern when nothing matches.
  """
  if os.path.isdir(pattern):
    files = [os.path.join(root, f) for root, _, names in os.walk(pattern) for f in names]
  else:
    files = glob.glob(pattern, recursive=True)
  files = sorted(f for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
  if not files:
    raise ValueError(f"no training images (png/jpg/ppm/bmp) match {pattern!r}")
  return files


def random_crop(image: tf.Tensor, size: int) -> tf.Tensor:
  """A random ``size`` x ``size`` crop; smaller images are first upscaled (bicubic) to fit."""
  shape = tf.shape(image)
  short = tf.minimum(shape[0], shape[1])
  image = tf.cast(image, tf.float32)

  def upscale():
    scale = tf.cast(size, tf.float32) / tf.cast(short, tf.float32)
    new = tf.cast(tf.math.ceil(tf.cast(shape[:2], tf.float32) * scale), tf.int32)
    return tf.clip_by_value(tf.image.resize(image, tf.maximum(new, size), "bicubic"), 0, 255)

  image = tf.cond(short < size, upscale, lambda: image)
  return tf.image.random_crop(image, [size, size, 3])


def center_crops(source: str, size: int, count: int) -> tf.Tensor:
  """The centre ``size`` x ``size`` crops of the first ``count`` images of a folder/glob
  (sorted; smaller images upscaled as in :func:`random_crop`): a fixed validation batch."""
  crops = []
  for path in list_images(source)[:count]:
    image = tf.cast(_decode(path), tf.float32)
    short = min(image.shape[0], image.shape[1])
    if short < size:
      new = [max(size, math.ceil(side * size / short)) for side in image.shape[:2]]
      image = tf.clip_by_value(tf.image.resize(image, new, "bicubic"), 0, 255)
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    crops.append(image[top:top + size, left:left + size])
  return tf.stack(crops)


def _decode(path: tf.Tensor) -> tf.Tensor:
  image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def image_dataset(source: str, patch_size: int, batch_size: int, tfds_split: str = "train",
                  cache: bool = True, seed: int | None = None) -> tf.data.Dataset:
  """Infinite dataset of float32 batches (B, patch, patch, 3) in [0, 255].

  ``source`` is a folder or glob of images, or ``tfds:NAME`` for a TensorFlow Datasets
  dataset with an ``image`` feature (e.g. ``tfds:clic``; needs the tensorflow-datasets extra
  and network access to download).
  """
  if source.startswith("tfds:"):
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    images = tfds.load(source[5:], split=tfds_split, shuffle_files=True).map(
        lambda d: d["image"])
  else:
    files = list_images(source)
    images = tf.data.Dataset.from_tensor_slices(files).map(
        _decode, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
      images = images.cache()
  return (images.shuffle(1000, seed=seed).repeat()
          .map(lambda im: random_crop(im, patch_size), num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
