"""The results schema (JSON + CSV), atomic writes and loading of external results.

A results object (``schema_version`` 1) looks like::

  {"schema_version": 1, "name": "jpeg420", "description": "...",
   "dataset": "kodak", "versions": {"pillow": "13.0.0", ...},
   "qualities": ["5", "10", ...], "images": ["kodim01.png", ...],
   "results": {"per_image": [{"image", "quality", "bpp", "psnr", "ms_ssim",
                              "ms_ssim_db", "encoding_time", "decoding_time"}],
               "averages": [{"quality", "num_images", "bpp", "psnr", "ms_ssim",
                             "ms_ssim_db", "encoding_time", "decoding_time"}]}}

Averages are arithmetic means over the images that have the quality. Fields
that are unknown (e.g. MS-SSIM or times of imported VTM results) are ``null``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tfc_swin import fileio
from tfc_swin.eval import metrics

SCHEMA_VERSION = 1
EXTERNAL_PREFIX = "external:"
METRIC_FIELDS = ("bpp", "psnr", "ms_ssim", "ms_ssim_db", "encoding_time", "decoding_time")
RECORD_FIELDS = ("image", "quality") + METRIC_FIELDS
REQUIRED_CSV_COLUMNS = ("image", "quality", "bpp", "psnr")

Record = dict[str, Any]


def _ordered_unique(values: Iterable[str]) -> list[str]:
  return list(dict.fromkeys(values))


def compute_averages(records: Sequence[Record], qualities: Sequence[str]) -> list[Record]:
  """Per-quality means of the metric fields, in the order of ``qualities``."""
  averages = []
  for quality in qualities:
    rows = [r for r in records if r["quality"] == quality]
    if not rows:
      continue
    average: Record = {"quality": quality, "num_images": len(rows)}
    for field in METRIC_FIELDS:
      values = [r.get(field) for r in rows]
      average[field] = (None if any(v is None for v in values)
                        else math.fsum(values) / len(values))
    averages.append(average)
  return averages


def build_results(name: str, description: str, versions: dict[str, str],
                  records: Sequence[Record], qualities: Sequence[str],
                  dataset: str = "", point_ids: dict[str, str] | None = None
                  ) -> dict[str, Any]:
  """Assembles a results object; records are sorted by image, then quality order.

  ``point_ids`` (quality label -> model fingerprint or codec description) lets a later run
  tell which records it may reuse."""
  qualities = _ordered_unique(list(qualities) + [r["quality"] for r in records])
  rank = {q: i for i, q in enumerate(qualities)}
  per_image = sorted(records, key=lambda r: (r["image"], rank[r["quality"]]))
  per_image = [{field: r.get(field) for field in RECORD_FIELDS} for r in per_image]
  used = [q for q in qualities if any(r["quality"] == q for r in per_image)]
  built = {
      "schema_version": SCHEMA_VERSION,
      "name": name,
      "description": description,
      "dataset": dataset,
      "versions": dict(versions),
      "qualities": used,
      "images": sorted({r["image"] for r in per_image}),
      "results": {
          "per_image": per_image,
          "averages": compute_averages(per_image, used),
      },
  }
  if point_ids:
    built["point_ids"] = {q: point_ids[q] for q in used if q in point_ids}
  return built


def write_json(path: str | Path, results: dict[str, Any]) -> None:
  """Writes a results object atomically (see :mod:`tfc_swin.fileio`)."""
  fileio.write_json(path, results, indent=2, allow_nan=False)


def write_csv(path: str | Path, results: dict[str, Any]) -> None:
  """Writes the per-image records as CSV atomically (columns = RECORD_FIELDS)."""
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=RECORD_FIELDS, lineterminator="\n")
  writer.writeheader()
  for record in results["results"]["per_image"]:
    writer.writerow({k: ("" if record.get(k) is None else record[k]) for k in RECORD_FIELDS})
  fileio.write_text(path, buffer.getvalue())


def csv_path_for(json_path: str | Path) -> Path:
  """The CSV written next to a results JSON (same stem)."""
  return Path(json_path).with_suffix(".csv")


def validate(results: dict[str, Any], source: str = "results") -> dict[str, Any]:
  """Checks the parts of the schema the tools rely on; returns ``results``."""
  if not isinstance(results, dict) or "name" not in results:
    raise ValueError(f"{source}: not a results object (missing 'name')")
  per_image = results.get("results", {}).get("per_image")
  if not isinstance(per_image, list):
    raise ValueError(f"{source}: missing results.per_image list")
  version = results.get("schema_version", SCHEMA_VERSION)
  if version != SCHEMA_VERSION:
    raise ValueError(f"{source}: unsupported schema_version {version}")
  for i, record in enumerate(per_image):
    for field in REQUIRED_CSV_COLUMNS:
      if record.get(field) is None:
        raise ValueError(f"{source}: per_image[{i}] has no {field!r}")
  return results


def _optional_float(value: str | None) -> float | None:
  if value is None or value.strip() == "":
    return None
  return float(value)


def load_csv(path: str | Path) -> dict[str, Any]:
  """Imports per-image results from CSV (columns image, quality, bpp, psnr[, ms_ssim]).

  Extra columns ``ms_ssim_db``, ``encoding_time`` and ``decoding_time`` are read
  if present; ``ms_ssim_db`` is computed from ``ms_ssim`` otherwise. The name is
  the file stem and the dataset the parent folder name.
  """
  path = Path(path)
  with path.open(newline="", encoding="utf-8") as handle:
    reader = csv.DictReader(handle)
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in columns]
    if missing:
      raise ValueError(f"{path}: CSV lacks required columns {missing} (has {columns})")
    records = []
    for row in reader:
      row = {k.strip(): v for k, v in row.items()}
      record: Record = {"image": row["image"].strip(), "quality": row["quality"].strip()}
      for field in METRIC_FIELDS:
        record[field] = _optional_float(row.get(field))
      if record["ms_ssim_db"] is None and record["ms_ssim"] is not None:
        record["ms_ssim_db"] = metrics.ms_ssim_db(record["ms_ssim"])
      records.append(record)
  qualities = _ordered_unique(r["quality"] for r in records)
  return build_results(path.stem, f"imported from {path.name}", {}, records, qualities,
                       dataset=path.parent.name)


def load_results(spec: str | Path) -> dict[str, Any]:
  """Loads results from a JSON (our schema) or CSV path; ``external:`` prefix allowed."""
  text = str(spec)
  if text.startswith(EXTERNAL_PREFIX):
    text = text[len(EXTERNAL_PREFIX):]
  path = Path(text)
  if not path.is_file():
    raise FileNotFoundError(f"results file not found: {path}")
  if path.suffix.lower() == ".csv":
    return load_csv(path)
  with path.open(encoding="utf-8") as handle:
    results = validate(json.load(handle), str(path))
  if not results.get("dataset"):
    results["dataset"] = path.parent.name
  if "averages" not in results["results"]:
    per_image = results["results"]["per_image"]
    qualities = results.get("qualities") or _ordered_unique(r["quality"] for r in per_image)
    results["results"]["averages"] = compute_averages(per_image, qualities)
  return results
