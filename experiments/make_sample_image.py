"""Writes the bundled demo image tfc_swin/data/sample.png (procedural, no third-party data).

A 384x256 scene with a sky gradient, textured hills, a sun and some noise, so that the demo
exercises smooth areas, edges and texture. Deterministic: re-running gives the same file.
"""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = os.path.join(os.path.dirname(__file__), "..", "tfc_swin", "data", "sample.png")


def make(width: int = 384, height: int = 256, seed: int = 0) -> Image.Image:
  rng = np.random.default_rng(seed)
  y = np.linspace(0, 1, height)[:, None, None]
  sky = (1 - y) * np.array([90, 140, 220]) + y * np.array([200, 220, 240])
  img = np.broadcast_to(sky, (height, width, 3)).copy()
  x = np.arange(width)
  for i, (base, amp, color) in enumerate([(0.55, 25, (70, 120, 60)), (0.7, 18, (50, 95, 40)),
                                          (0.85, 10, (110, 90, 55))]):
    ridge = height * base + amp * np.sin(x / (23 + 11 * i) + i) + amp / 2 * np.sin(x / 7.3 + i)
    mask = np.arange(height)[:, None] > ridge[None, :]
    texture = rng.normal(0, 12, (height, width, 1))
    img = np.where(mask[..., None], np.array(color) + texture, img)
  im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
  draw = ImageDraw.Draw(im)
  draw.ellipse((290, 30, 340, 80), fill=(250, 220, 120))
  draw.rectangle((60, 140, 120, 190), fill=(150, 60, 50))
  draw.polygon([(55, 140), (90, 110), (125, 140)], fill=(90, 40, 35))
  return im.filter(ImageFilter.GaussianBlur(0.6))


if __name__ == "__main__":
  make().save(OUT, format="PNG", optimize=True)
  print(OUT, os.path.getsize(OUT), "bytes")
