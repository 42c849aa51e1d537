"""Distortion and rate metrics on 8-bit RGB images.

Conventions (also in docs/evaluation.md):

* PSNR: MSE over all pixels and all three channels of the uint8 images,
  peak 255, ``10 * log10(255**2 / MSE)``. Values are capped at ``MAX_DB``
  (100 dB); identical images (MSE 0) therefore give exactly 100 dB.
* MS-SSIM: ``tf.image.ssim_multiscale`` on float32 images in [0, 255] with
  ``max_val=255``, filter size 11, sigma 1.5 and the standard 5-scale weights.
  TensorFlow needs ``ceil(side / 2**(scales-1)) >= 11`` for every scale, i.e.
  a shorter side of at least 161 px for 5 scales. Smaller images use the
  largest number of scales that fits, with the first weights renormalized to
  sum to 1 (5 scales use the standard weights unchanged, exactly as TF's
  default). Images with a side below 11 px raise ``ValueError``.
* MS-SSIM dB: ``-10 * log10(1 - ms_ssim)``, capped at ``MAX_DB``.
* bpp: ``8 * num_bytes / (H * W)`` with the size of the original image.
"""

from __future__ import annotations

import math

import numpy as np

MAX_DB = 100.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_FILTER_SIZE = 11


def _check_pair(original: np.ndarray, reconstruction: np.ndarray) -> None:
  if original.shape != reconstruction.shape:
    raise ValueError(
      f"shape mismatch: original {original.shape} vs reconstruction {reconstruction.shape}"
    )
  if original.ndim != 3 or original.shape[-1] != 3:
    raise ValueError(f"expected HxWx3 RGB images, got shape {original.shape}")


def _to_db(ratio: float) -> float:
  """Returns ``10 * log10(ratio)`` capped at ``MAX_DB`` (inf-safe)."""
  if ratio <= 0.0:
    raise ValueError(f"dB of non-positive ratio {ratio}")
  if math.isinf(ratio):
    return MAX_DB
  return min(MAX_DB, 10.0 * math.log10(ratio))


def mse(original: np.ndarray, reconstruction: np.ndarray) -> float:
  """Mean squared error over all pixels and channels (8-bit scale)."""
  _check_pair(original, reconstruction)
  diff = original.astype(np.float64) - reconstruction.astype(np.float64)
  return float(np.mean(np.square(diff)))


def psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
  """RGB PSNR in dB with peak 255, capped at ``MAX_DB``."""
  return psnr_from_mse(mse(original, reconstruction))


def psnr_from_mse(error: float) -> float:
  """PSNR in dB of a mean squared error on the [0, 255] scale, capped at ``MAX_DB``."""
  if error == 0.0:
    return MAX_DB
  return _to_db(255.0**2 / error)


def ms_ssim_scales(height: int, width: int) -> int:
  """Number of MS-SSIM scales (at most 5) that fit an image of this size."""
  side = min(height, width)
  if side < SSIM_FILTER_SIZE:
    raise ValueError(
      f"image {height}x{width} is too small for MS-SSIM: "
      f"shorter side must be >= {SSIM_FILTER_SIZE} px"
    )
  scales = 1
  while (
    scales < len(MS_SSIM_WEIGHTS)
    and math.ceil(side / 2**scales) >= SSIM_FILTER_SIZE
  ):
    scales += 1
  return scales


def ms_ssim_weights(height: int, width: int) -> tuple[float, ...]:
  """MS-SSIM power factors for an image of this size.

  The standard weights (which sum to 1.0001) are used unchanged with 5 scales;
  fewer scales use the first weights renormalized to sum to 1.
  """
  weights = MS_SSIM_WEIGHTS[: ms_ssim_scales(height, width)]
  if len(weights) == len(MS_SSIM_WEIGHTS):
    return weights
  total = sum(weights)
  return tuple(w / total for w in weights)


def ms_ssim(original: np.ndarray, reconstruction: np.ndarray) -> float:
  """MS-SSIM of two uint8 RGB images via ``tf.image.ssim_multiscale``."""
  import tensorflow as tf  # Imported lazily: only this metric needs TF.

  _check_pair(original, reconstruction)
  weights = ms_ssim_weights(original.shape[0], original.shape[1])
  value = tf.image.ssim_multiscale(
    tf.constant(original, tf.float32),
    tf.constant(reconstruction, tf.float32),
    max_val=255.0,
    power_factors=weights,
    filter_size=SSIM_FILTER_SIZE,
  )
  return float(value.numpy())


def ms_ssim_db(value: float) -> float:
  """MS-SSIM in dB, ``-10 log10(1 - value)``, capped at ``MAX_DB``."""
  if value >= 1.0:
    return MAX_DB
  return _to_db(1.0 / (1.0 - value))


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
  """Bits per pixel of a bitstream for an image of the original size."""
  return 8.0 * num_bytes / (height * width)
