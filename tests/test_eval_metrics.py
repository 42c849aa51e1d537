"""Tests of tfc_swin.eval.metrics."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tfc_swin.eval import metrics
from helpers import smooth_image


def test_psnr_known_mse():
  image = np.full((4, 5, 3), 100, np.uint8)
  shifted = image + 1
  assert metrics.mse(image, shifted) == 1.0
  assert metrics.psnr(image, shifted) == pytest.approx(10 * math.log10(255**2))
  mixed = image.copy()
  mixed[0, 0, 0] = 110  # one error of 10 over 60 values: MSE = 100 / 60
  assert metrics.psnr(image, mixed) == pytest.approx(10 * math.log10(255**2 * 60 / 100))
  assert metrics.psnr_from_mse(100 / 60) == metrics.psnr(image, mixed)  # the trainer's PSNR
  assert metrics.psnr_from_mse(0.0) == metrics.MAX_DB


def test_psnr_identical_and_cap():
  image = smooth_image(8, 8)
  assert metrics.psnr(image, image) == metrics.MAX_DB == 100.0
  big = np.zeros((1024, 1024, 3), np.uint8)
  almost = big.copy()
  almost[0, 0, 0] = 1  # finite PSNR of ~113 dB is capped as well
  assert metrics.psnr(big, almost) == 100.0


def test_psnr_shape_mismatch():
  with pytest.raises(ValueError, match="shape mismatch"):
    metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_bits_per_pixel_and_ms_ssim_db():
  assert metrics.bits_per_pixel(100, 10, 20) == 4.0
  assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)
  assert metrics.ms_ssim_db(1.0) == 100.0


def test_ms_ssim_scales():
  assert metrics.ms_ssim_scales(161, 500) == 5
  assert metrics.ms_ssim_scales(500, 160) == 4
  assert metrics.ms_ssim_scales(21, 21) == 2
  assert metrics.ms_ssim_scales(11, 11) == 1
  with pytest.raises(ValueError, match="too small"):
    metrics.ms_ssim_scales(10, 64)
  weights = metrics.ms_ssim_weights(48, 64)  # 3 scales
  assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)
  assert weights[0] / weights[1] == pytest.approx(0.0448 / 0.2856)


def test_ms_ssim_matches_tensorflow_default_weights():
  original = smooth_image(161, 170, seed=1)
  noisy = np.clip(original + np.random.default_rng(2).normal(0, 8, original.shape), 0, 255)
  noisy = noisy.astype(np.uint8)
  expected = tf.image.ssim_multiscale(tf.constant(original, tf.float32),
                                      tf.constant(noisy, tf.float32), max_val=255.0)
  assert metrics.ms_ssim(original, noisy) == pytest.approx(float(expected), abs=1e-6)
  assert metrics.ms_ssim(original, original) == pytest.approx(1.0)


def test_ms_ssim_small_image_fallback():
  original = smooth_image(48, 64, seed=3)
  rng = np.random.default_rng(4)
  values = []
  for sigma in (2, 8, 20):
    noisy = np.clip(original + rng.normal(0, sigma, original.shape), 0, 255).astype(np.uint8)
    values.append(metrics.ms_ssim(original, noisy))
  assert 0 < values[2] < values[1] < values[0] < 1
  with pytest.raises(tf.errors.InvalidArgumentError):
    tf.image.ssim_multiscale(tf.constant(original, tf.float32),
                             tf.constant(original, tf.float32), max_val=255.0)
