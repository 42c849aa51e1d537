r"""Peak memory of coding large images (4K, 8K), and the PSNR cost of tiling.

    nice python experiments/large_images.py --image ../shared/data/kodak/kodim23.png \
        --models default,untrained:swint-charm --sizes 3840x2160,7680x4320 \
        --output results/large_images/peak_memory.json

The image is a Kodak photo upscaled (bicubic) to cover each size and centre-cropped (made in
memory, never written). Compress and decompress each run in a fresh worker process
(:class:`tfc_swin.isolation.IsolatedCoder`, no pixel limit); the table gives each worker's peak
resident size (``VmHWM``: the model, TensorFlow and the call), its size after loading the model,
the time of the call, bpp and PSNR. ``--tile_sides`` codes with those tile sides (``0``: untiled;
``auto``: the coder's default), so that the PSNR and bpp of tiled and untiled coding compare.
A worker that grows by more than ``--memory_limit_mb`` above its size after loading (or than
what the machine has available less ``--reserve_mb``) is killed and reported as such, so a
run never takes the machine's memory. Models: ``default`` (the zoo default), a zoo or config
name, or ``untrained:CONFIG`` (fresh weights, seed 0: the memory of the architecture).
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from absl import app, flags

from tfc_swin.bitstream import TooLargeError
from tfc_swin.eval.metrics import psnr
from tfc_swin.eval.tables import markdown_table
from tfc_swin.isolation import IsolatedCoder, MemoryLimitError, rss_kb

if TYPE_CHECKING:  # numpy is imported where it is used
  import numpy as np

FLAGS = flags.FLAGS
flags.DEFINE_string("image", None, "The photo to upscale (e.g. a Kodak image).")
flags.DEFINE_list("models", ["default", "untrained:swint-charm"], "Models (module docstring).")
flags.DEFINE_list("sizes", ["3840x2160", "7680x4320"], "Image sizes WIDTHxHEIGHT.")
flags.DEFINE_list("tile_sides", ["auto"], "Tile sides to code with: 0 = untiled, auto = the "
                  "coder's default.")
flags.DEFINE_integer("memory_limit_mb", 16000, "Kill a worker that grows by more than this.")
flags.DEFINE_integer("reserve_mb", 3000, "Memory left to the rest of the machine.")
flags.DEFINE_string("output", None, "Also write the results to this JSON file.")


def make_image(path: str, width: int, height: int) -> np.ndarray:
  """The photo upscaled (bicubic) to cover width x height, centre-cropped: uint8 RGB."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  photo = Image.open(path).convert("RGB")
  scale = max(width / photo.width, height / photo.height)
  big = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.BICUBIC)
  left, top = (big.width - width) // 2, (big.height - height) // 2
  return np.asarray(big.crop((left, top, left + width, top + height)))


def _available_mb() -> int:
  with open("/proc/meminfo") as f:
    for line in f:
      if line.startswith("MemAvailable:"):
        return int(line.split()[1]) // 1024
  return 0


def _worker(model: str) -> IsolatedCoder:
  """A started worker for a model spec, with this run's memory limit."""
  if model.startswith("untrained:"):
    coder = IsolatedCoder(model.split(":", 1)[1], loader="tfc_swin.api:untrained_coder")
  else:
    coder = IsolatedCoder(None if model == "default" else model)
  coder.start()
  coder.memory_limit_mb = min(FLAGS.memory_limit_mb,
                              _available_mb() - FLAGS.reserve_mb)
  return coder


def _call(model: str, function: str, *args: Any) -> dict[str, Any]:
  """One call in a fresh worker: its result, peak and loaded sizes (MB) and seconds."""
  coder = _worker(model)
  loaded_mb = coder.baseline_rss_kb / 1024
  t0 = time.perf_counter()
  try:
    result = getattr(coder, function)(*args)
  except (MemoryLimitError, TooLargeError) as e:
    result = e
  seconds = time.perf_counter() - t0
  peak_mb = rss_kb(coder.pid, "VmHWM") / 1024 if coder.pid else None
  name = coder.name
  coder.close()
  return {"result": result, "peak_mb": peak_mb, "loaded_mb": loaded_mb,
          "seconds": seconds, "name": name, "limit_mb": coder.memory_limit_mb}


def measure(model: str, image: np.ndarray, tile_side: str) -> dict[str, Any]:
  """Compress + decompress of one image with one model and tiling: sizes, times, quality."""
  tile = None if tile_side == "auto" else int(tile_side)
  height, width = image.shape[:2]
  row: dict[str, Any] = {"model": model, "size": f"{width}x{height}", "tile_side": tile_side}
  encoded = _call(model, "compress_array", image, "RGB", None, None, tile)
  row.update(name=encoded["name"], loaded_mb=encoded["loaded_mb"],
             compress_peak_mb=encoded["peak_mb"], compress_s=encoded["seconds"])
  if isinstance(encoded["result"], Exception):
    return {**row, "error": f"compress: {encoded['result']}"}
  data = encoded["result"]
  decoded = _call(model, "decompress_array", data, None)
  row.update(decompress_peak_mb=decoded["peak_mb"], decompress_s=decoded["seconds"],
             bytes=len(data), bpp=8 * len(data) / (width * height))
  if isinstance(decoded["result"], Exception):
    return {**row, "error": f"decompress: {decoded['result']}"}
  return {**row, "psnr": psnr(image, decoded["result"][0])}


def table(rows: list[dict[str, Any]]) -> str:
  def mb(value):
    return "-" if value is None else f"{value:,.0f}"
  return markdown_table(
      ["model", "size", "tiles", "loaded MB", "compress peak MB", "decompress peak MB",
       "compress s", "decompress s", "bpp", "PSNR"],
      [[r["model"], r["size"], r["tile_side"], mb(r.get("loaded_mb")),
        mb(r.get("compress_peak_mb")), mb(r.get("decompress_peak_mb")),
        f"{r.get('compress_s', 0):.0f}", f"{r.get('decompress_s', 0):.0f}",
        f"{r['bpp']:.4f}" if "bpp" in r else "-",
        f"{r['psnr']:.2f}" if "psnr" in r else r.get("error", "-")] for r in rows])


def main(argv: list[str]) -> None:
  del argv
  rows = []
  for size in FLAGS.sizes:
    width, height = (int(v) for v in size.split("x"))
    image = make_image(FLAGS.image, width, height)
    for model in FLAGS.models:
      for tile_side in FLAGS.tile_sides:
        rows.append(measure(model, image, tile_side))
        print(json.dumps(rows[-1]), flush=True)
  print(table(rows))
  if FLAGS.output:
    from tfc_swin import fileio  # pylint: disable=import-outside-toplevel
    fileio.write_json(FLAGS.output, {"flags": {k: FLAGS[k].value for k in (
        "image", "models", "sizes", "tile_sides", "memory_limit_mb", "reserve_mb")},
        "rows": rows})


if __name__ == "__main__":
  flags.mark_flags_as_required(["image"])  # here, so that tests can import the module
  app.run(main)
