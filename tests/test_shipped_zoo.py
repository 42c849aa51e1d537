"""The zoo committed in this repository: every shipped model loads, verifies and round-trips."""
import numpy as np
import pytest

from tfc_swin import zoo
from tfc_swin.eval.metrics import psnr

SHIPPED = [(name, quality) for name in zoo.models() for quality in zoo.qualities(name)]


def test_zoo_ships_a_default_model():
  default = zoo.default()
  assert default["model"] in zoo.models()
  assert default["quality"] in zoo.qualities()


@pytest.mark.slow
@pytest.mark.parametrize("name,quality", SHIPPED, ids=[f"{n}-q{q}" for n, q in SHIPPED])
def test_shipped_model_round_trips(name, quality, make_image):
  _, records = zoo.version_records(name)
  record = records[str(quality)]
  assert {"lmbda", "steps", "kodak"} <= set(record), record.keys()
  coder = zoo.load(name, quality=quality)  # Verifies the sha256 of every file.
  image = make_image(72, 88)
  data = coder.encode(image)
  decoded = coder.decode(data)
  assert decoded.shape == image.shape and decoded.dtype == np.uint8
  assert psnr(image, decoded) > 20.0
