"""Golden bitstreams: a fixed image coded by fixed-seed tiny models gives byte-identical files.

Any change to the file format (tfc_swin/bitstream.py) or to the numerics of a codec (weight
initialization, transforms, priors, range coding) changes a digest below. If the change is
intended, regenerate the digests with the code that makes the new files and say why in the
commit. The digests were made at commit d6bc424 (before the part-based config refactor).

Format version 2 (per-slice index checksums, tiles) changed the files of the ChARM configs,
which now carry one checksum per latent slice (``GOLDEN_V2``). ``GOLDEN`` still pins, byte for
byte, the version-1 files that models without per-slice checksums write (SavedModels exported
before version 2, e.g. the zoo default), and one-slice models still write version 1.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tfc_swin.api import untrained_coder
from helpers import old_export_coder

SEED = 1234
GOLDEN = {  # config: (file size in bytes, sha256 of the file)
    "conv-hyperprior-tiny": (161,
                             "2ae015c793ba4aecd516913b5253d77b3a14fe22c7a04ae96a3171b899323cfc"),
    "conv-charm-tiny": (95, "e0a087dd493b9cef0a11934666e17d20e3b025c5e3750038c90b31aa157d7998"),
    "swint-hyperprior-tiny": (393,
                              "1e82dc6166216188a6a10ddb24978aec8f52465514a7a1e2a594b0745a9d0982"),
    "swint-charm-tiny": (458, "eab582be516051dba95d34990d93c3a60f48e0d1a32fc78fbd05028b360ba6a9"),
}
GOLDEN_V2 = {  # the same, in format version 2 (models with per-slice checksums)
    "conv-charm-tiny": (105, "276f6f29762ef1359e239488590bbea09bf869934e9a4a6f5d984a9f5d9442c9"),
    "swint-charm-tiny": (464, "63ade6c0704a312d4e7f0bdf156586860bd8b61c2ddee86da35976d292517b05"),
}


def golden_image(height: int = 40, width: int = 56) -> np.ndarray:
  """A deterministic RGB image without random numbers: waves, a ramp and stripes."""
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  red = 127.5 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
  green = 255.0 * x / (width - 1)
  blue = 255.0 * ((x + y) % 16 < 8)
  return np.clip(np.round(np.stack([red, green, blue], -1)), 0, 255).astype(np.uint8)


def test_golden_image_is_fixed():
  digest = hashlib.sha256(golden_image().tobytes()).hexdigest()
  assert digest == "06a394f1761e5b7a1d6993b36baa6196a817f7bdfe2b8ddcc04c8caaaea46448"


@pytest.mark.parametrize("config", [
    c if c == "conv-hyperprior-tiny" else pytest.param(c, marks=pytest.mark.slow)
    for c in sorted(GOLDEN)])  # the fast half checks the format and the conv numerics
def test_bitstream_is_unchanged(config):
  coder = untrained_coder(config, SEED)
  old_export = old_export_coder(coder)
  data = coder.compress_array(golden_image())
  assert (len(data), hashlib.sha256(data).hexdigest()) == GOLDEN_V2.get(config, GOLDEN[config])
  version_1 = old_export.compress_array(golden_image())
  assert (len(version_1), hashlib.sha256(version_1).hexdigest()) == GOLDEN[config]
  for decoder, file in ((coder, data), (coder, version_1), (old_export, version_1)):
    decoded, header, _ = decoder.decompress_array(file)
    assert decoded.shape == golden_image().shape and header.config == config
