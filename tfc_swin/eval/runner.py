"""Rate-distortion evaluation of a codec family on a folder of images.

For every image and quality point: encode, decode, and measure bpp from the
real bytes, PSNR, MS-SSIM, MS-SSIM dB and wall-clock encode / decode times.
Progress is checkpointed after each image to ``<stem>.partial.json`` next to
the output; finished (image, quality) pairs found in the output JSON or the
checkpoint are not recomputed.
"""
from __future__ import annotations

import importlib.metadata
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from tfc_swin import image_io
from tfc_swin.eval import anchors, metrics, results
from tfc_swin.eval.protocol import Codec, CodecPoints


def checkpoint_path_for(output: str | Path) -> Path:
  """The partial-progress file kept next to an output JSON."""
  output = Path(output)
  return output.with_name(f"{output.stem}.partial.json")


def environment_versions(family: str = "") -> dict[str, str]:
  """Library versions recorded in every results file (see :func:`anchors.library_versions`)."""
  versions = anchors.library_versions(family)
  for package in ("scipy", "tensorflow", "tensorflow-compression"):
    try:
      versions[package.replace("-", "_")] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      versions[package.replace("-", "_")] = "not installed"
  return versions


def family_description(points: CodecPoints) -> str:
  """The distinct descriptions of a family's points, joined by `` | ``."""
  return " | ".join(dict.fromkeys(codec.description for _, codec in points))


class ProgressBar:
  """A minimal progress bar on stderr (one line per update if not a terminal)."""

  def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30):
    self.total = total
    self.count = 0
    self.stream = stream
    self.width = width
    self.start = time.perf_counter()
    self.interactive = stream.isatty()

  def update(self, label: str) -> None:
    """Marks one more item done and redraws."""
    self.count += 1
    elapsed = time.perf_counter() - self.start
    eta = elapsed / self.count * (self.total - self.count)
    filled = int(self.width * self.count / max(self.total, 1))
    line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.count}/{self.total} "
            f"{label} elapsed {elapsed:.0f}s eta {eta:.0f}s")
    if self.interactive:
      self.stream.write("\r" + line.ljust(100))
      if self.count == self.total:
        self.stream.write("\n")
    else:
      self.stream.write(line + "\n")
    self.stream.flush()


def measure(codec: Codec, image: np.ndarray) -> dict[str, float]:
  """Encodes and decodes one image; returns bpp, quality metrics and times (s)."""
  start = time.perf_counter()
  data = codec.encode(image)
  encoding_time = time.perf_counter() - start
  start = time.perf_counter()
  decoded = codec.decode(data)
  decoding_time = time.perf_counter() - start
  decoded = np.asarray(decoded)
  if decoded.shape != image.shape or decoded.dtype != np.uint8:
    raise ValueError(f"{codec.name}: decoded {decoded.dtype} {decoded.shape}, "
                     f"expected uint8 {image.shape}")
  height, width, _ = image.shape
  ms_ssim = metrics.ms_ssim(image, decoded)
  return {
      "bpp": metrics.bits_per_pixel(len(data), height, width),
      "psnr": metrics.psnr(image, decoded),
      "ms_ssim": ms_ssim,
      "ms_ssim_db": metrics.ms_ssim_db(ms_ssim),
      "encoding_time": encoding_time,
      "decoding_time": decoding_time,
  }


def measure_folder(codec: Codec, folder: str | Path) -> dict[str, float | int]:
  """Mean bpp, PSNR, MS-SSIM (and in dB) of ``codec`` over a folder's images, rounded to 4
  decimals, with the image count: a zoo manifest's ``kodak`` record."""
  rows = [measure(codec, image_io.read_rgb(p)) for p in image_io.list_images(folder)]
  return {k: round(float(np.mean([r[k] for r in rows])), 4)
          for k in ("bpp", "psnr", "ms_ssim", "ms_ssim_db")} | {"images": len(rows)}


def point_id(codec: Codec) -> str:
  """What a result was measured with: a learned model's fingerprint, else the description."""
  model_id = getattr(codec, "model_id", None)
  return f"{model_id.name}@{model_id.fingerprint}" if model_id else codec.description


def _load_previous(path: Path, name: str, ids: dict[str, str]) -> list[dict[str, Any]]:
  """Records of an earlier (or interrupted) run that are still valid: same family name and,
  per quality label, the same point (a retrained zoo version is measured again)."""
  if not path.is_file():
    return []
  with path.open(encoding="utf-8") as handle:
    previous = results.validate(json.load(handle), str(path))
  if previous["name"] != name:
    raise ValueError(f"{path} holds results of {previous['name']!r}, not {name!r}; "
                     "choose another --output or delete it")
  old_ids = previous.get("point_ids", {})
  records = previous["results"]["per_image"]
  kept = [r for r in records
          if r["quality"] in ids and old_ids.get(r["quality"]) == ids[r["quality"]]]
  if len(kept) < len(records):
    print(f"{path}: {len(records) - len(kept)} earlier results were measured with other "
          "codec points (or unrecorded ones) and are not reused", file=sys.stderr)
  return kept


def select_points(points: CodecPoints, qualities: Sequence[str] | None) -> CodecPoints:
  """The points whose labels are in ``qualities`` (all if None), in family order."""
  if not qualities:
    return list(points)
  labels = [label for label, _ in points]
  unknown = [q for q in qualities if q not in labels]
  if unknown:
    raise ValueError(f"unknown qualities {unknown}; valid: {labels}")
  return [(label, codec) for label, codec in points if label in qualities]


def evaluate(name: str, points: CodecPoints, image_paths: Sequence[Path], output: str | Path,
             *, qualities: Sequence[str] | None = None, dataset: str = "",
             progress: bool = True) -> dict[str, Any]:
  """Evaluates a codec family, writes ``output`` JSON + CSV and returns the results.

  Images are read with :func:`tfc_swin.image_io.read_rgb` and recorded by file name, which
  must be unique."""
  if len({p.name for p in image_paths}) < len(image_paths):
    raise ValueError("image file names must be unique (results are recorded by name)")
  output = Path(output)
  checkpoint = checkpoint_path_for(output)
  selected = select_points(points, qualities)
  order = [label for label, _ in points]
  description = family_description(selected)
  versions = environment_versions(name)
  ids = {label: point_id(codec) for label, codec in points}
  done: dict[tuple[str, str], dict[str, Any]] = {}
  for path in (output, checkpoint):
    for record in _load_previous(path, name, ids):
      done[(record["image"], record["quality"])] = record

  def snapshot() -> dict[str, Any]:
    return results.build_results(name, description, versions, list(done.values()), order,
                                 dataset=dataset, point_ids=ids)

  todo = [(p, [(q, c) for q, c in selected if (p.name, q) not in done]) for p in image_paths]
  todo = [(p, pending) for p, pending in todo if pending]
  bar = ProgressBar(sum(len(pending) for _, pending in todo)) if progress and todo else None
  for path, pending in todo:
    image = image_io.read_rgb(path)
    for quality, codec in pending:
      done[(path.name, quality)] = {"image": path.name, "quality": quality,
                                    **measure(codec, image)}
      if bar:
        bar.update(f"{path.name} q={quality}")
    results.write_json(checkpoint, snapshot())
  final = snapshot()
  results.write_json(output, final)
  results.write_csv(results.csv_path_for(output), final)
  checkpoint.unlink(missing_ok=True)
  return final
