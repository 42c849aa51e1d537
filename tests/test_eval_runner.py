"""Tests of the RD runner, the results schema and experiments/evaluate.py."""
from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfc_swin import image_io
from tfc_swin.eval import metrics, results, runner
from helpers import REPO, blurred_noise_image



@dataclasses.dataclass
class QuantizingCodec:
  """Fake codec: uniform pixel quantization, zlib-compressed raw bytes."""

  step: int
  name: str = "fake"
  description: str = "quantize pixels, zlib"
  calls: list = dataclasses.field(default_factory=list)
  fail_on: str = ""

  def encode(self, image: np.ndarray) -> bytes:
    self.calls.append(image.shape)
    if self.fail_on and image.shape[1] == int(self.fail_on):
      raise RuntimeError("simulated crash")
    height, width, _ = image.shape
    quantized = (image // self.step).astype(np.uint8)
    return height.to_bytes(2, "big") + width.to_bytes(2, "big") + zlib.compress(
        quantized.tobytes())

  def decode(self, data: bytes) -> np.ndarray:
    height, width = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
    quantized = np.frombuffer(zlib.decompress(data[4:]), np.uint8).reshape(height, width, 3)
    return np.clip(quantized.astype(np.int32) * self.step + self.step // 2, 0, 255).astype(
        np.uint8)


def fake_points(**kwargs) -> list:
  return [(str(step), QuantizingCodec(step, **kwargs)) for step in (32, 8, 2)]


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
  folder = tmp_path / "images"
  folder.mkdir()
  Image.fromarray(blurred_noise_image(48, 64, 0)).save(folder / "b.png")
  Image.fromarray(blurred_noise_image(48, 64, 1)[..., 0]).save(folder / "a.png")  # grayscale
  rgba = np.concatenate([blurred_noise_image(40, 56, 2), np.full((40, 56, 1), 7, np.uint8)], -1)
  Image.fromarray(rgba, "RGBA").save(folder / "c.PNG")
  (folder / "notes.txt").write_text("not an image")
  return folder


def test_list_and_load_images(image_dir: Path):
  paths = image_io.list_images(image_dir)
  assert [p.name for p in paths] == ["a.png", "b.png", "c.PNG"]
  assert [p.name for p in image_io.list_images(image_dir, limit=2)] == ["a.png", "b.png"]
  gray = image_io.read_rgb(image_dir / "a.png")
  assert gray.shape == (48, 64, 3) and np.array_equal(gray[..., 0], gray[..., 2])
  rgba = image_io.read_rgb(image_dir / "c.PNG")
  assert rgba.shape == (40, 56, 3)
  assert np.array_equal(rgba, blurred_noise_image(40, 56, 2))  # alpha dropped, colors untouched


def test_16_bit_images_are_read_as_8_bit(tmp_path: Path):
  path = tmp_path / "deep.png"
  Image.fromarray(np.full((12, 12), 40000, np.uint16)).save(path)
  assert np.all(image_io.read_rgb(path) == 40000 >> 8)  # the upper byte, as the CLI codes it


def test_image_names_must_be_unique(image_dir: Path, tmp_path: Path):
  (image_dir / "sub").mkdir()
  (image_dir / "sub" / "b.png").write_bytes((image_dir / "b.png").read_bytes())
  with pytest.raises(ValueError, match="unique"):
    runner.evaluate("fake", fake_points(), image_io.list_images(image_dir), tmp_path / "x.json",
                    progress=False)


def test_evaluate_schema_and_values(image_dir: Path, tmp_path: Path):
  output = tmp_path / "out" / "fake.json"
  paths = image_io.list_images(image_dir)
  result = runner.evaluate("fake", fake_points(), paths, output, dataset="toy", progress=False)
  on_disk = json.loads(output.read_text())
  assert on_disk == result
  assert result["schema_version"] == results.SCHEMA_VERSION
  assert result["name"] == "fake" and result["dataset"] == "toy"
  assert result["description"] == "quantize pixels, zlib"
  assert {"pillow", "libjpeg_turbo", "tensorflow"} <= result["versions"].keys()
  assert result["images"] == ["a.png", "b.png", "c.PNG"]
  assert result["qualities"] == ["32", "8", "2"]
  per_image = result["results"]["per_image"]
  assert len(per_image) == 9 and set(per_image[0]) == set(results.RECORD_FIELDS)
  image = image_io.read_rgb(image_dir / "b.png")
  codec = QuantizingCodec(8)
  record = next(r for r in per_image if r["image"] == "b.png" and r["quality"] == "8")
  assert record["bpp"] == 8 * len(codec.encode(image)) / (48 * 64)
  assert record["psnr"] == pytest.approx(metrics.psnr(image, codec.decode(codec.encode(image))))
  assert record["ms_ssim_db"] == pytest.approx(metrics.ms_ssim_db(record["ms_ssim"]))
  assert record["encoding_time"] > 0 and record["decoding_time"] > 0
  averages = result["results"]["averages"]
  assert [a["quality"] for a in averages] == ["32", "8", "2"]
  psnrs = [r["psnr"] for r in per_image if r["quality"] == "2"]
  assert averages[2]["psnr"] == pytest.approx(np.mean(psnrs)) and averages[2]["num_images"] == 3
  assert averages[0]["psnr"] < averages[1]["psnr"] < averages[2]["psnr"]
  with output.with_suffix(".csv").open() as handle:
    rows = list(csv.DictReader(handle))
  assert len(rows) == 9 and float(rows[0]["bpp"]) == per_image[0]["bpp"]
  assert sorted(p.name for p in output.parent.iterdir()) == ["fake.csv", "fake.json"]


def test_evaluate_resumes_without_recomputing(image_dir: Path, tmp_path: Path):
  output = tmp_path / "fake.json"
  paths = image_io.list_images(image_dir)
  runner.evaluate("fake", fake_points(), paths[:2], output, qualities=["32", "2"],
                  progress=False)
  points = fake_points()
  result = runner.evaluate("fake", points, paths, output, progress=False)
  calls = {label: len(codec.calls) for label, codec in points}
  assert calls == {"32": 1, "8": 3, "2": 1}  # only the missing (image, quality) pairs
  assert len(result["results"]["per_image"]) == 9
  again = fake_points()
  runner.evaluate("fake", again, paths, output, progress=False)
  assert all(not codec.calls for _, codec in again)


def test_evaluate_remeasures_points_whose_codec_changed(image_dir: Path, tmp_path: Path):
  output = tmp_path / "fake.json"
  paths = image_io.list_images(image_dir)
  first = runner.evaluate("fake", fake_points(), paths, output, progress=False)
  assert set(first["point_ids"]) == {"32", "8", "2"}
  points = fake_points()
  points[1][1].description = "retrained"  # e.g. a new zoo version behind the same label
  runner.evaluate("fake", points, paths, output, progress=False)
  assert {label: len(codec.calls) for label, codec in points} == {"32": 0, "8": 3, "2": 0}
  legacy = json.loads(output.read_text())
  del legacy["point_ids"]  # files written before point ids were recorded: nothing is reused
  output.write_text(json.dumps(legacy))
  again = fake_points()
  runner.evaluate("fake", again, paths, output, progress=False)
  assert all(len(codec.calls) == 3 for _, codec in again)


def test_evaluate_resumes_from_checkpoint_after_crash(image_dir: Path, tmp_path: Path):
  output = tmp_path / "fake.json"
  paths = image_io.list_images(image_dir)
  with pytest.raises(RuntimeError, match="simulated crash"):
    runner.evaluate("fake", fake_points(fail_on="56"), paths, output, progress=False)
  checkpoint = runner.checkpoint_path_for(output)
  assert not output.exists() and checkpoint.exists()
  saved = json.loads(checkpoint.read_text())
  assert saved["images"] == ["a.png", "b.png"]
  points = fake_points()
  result = runner.evaluate("fake", points, paths, output, progress=False)
  assert all(codec.calls == [(40, 56, 3)] for _, codec in points)
  assert len(result["results"]["per_image"]) == 9 and not checkpoint.exists()


def test_evaluate_refuses_other_codec_output(image_dir: Path, tmp_path: Path):
  output = tmp_path / "fake.json"
  paths = image_io.list_images(image_dir, limit=1)
  runner.evaluate("fake", fake_points(), paths, output, progress=False)
  with pytest.raises(ValueError, match="holds results of 'fake'"):
    runner.evaluate("other", fake_points(), paths, output, progress=False)


def test_evaluate_checks_decoded_shape(image_dir: Path, tmp_path: Path):

  class Cropping(QuantizingCodec):
    def decode(self, data: bytes) -> np.ndarray:
      return super().decode(data)[:-1]

  with pytest.raises(ValueError, match="decoded"):
    runner.evaluate("crop", [("1", Cropping(4))], image_io.list_images(image_dir, 1),
                    tmp_path / "crop.json", progress=False)


def test_unknown_quality(image_dir: Path, tmp_path: Path):
  with pytest.raises(ValueError, match="unknown qualities"):
    runner.evaluate("fake", fake_points(), image_io.list_images(image_dir), tmp_path / "x.json",
                    qualities=["7"], progress=False)


@pytest.mark.slow
def test_evaluate_binary(image_dir: Path, tmp_path: Path):
  output = tmp_path / "res" / "jpeg420.json"
  command = [sys.executable, str(REPO / "experiments" / "evaluate.py"), "--codec", "jpeg420",
             "--images", str(image_dir), "--output", str(output), "--qualities", "50,90",
             "--limit", "2"]
  done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
  assert done.returncode == 0, done.stderr
  result = json.loads(output.read_text())
  assert result["name"] == "jpeg420" and result["dataset"] == "images"
  assert result["qualities"] == ["50", "90"] and result["images"] == ["a.png", "b.png"]
  assert "subsampling=2" in result["description"]
  assert output.with_suffix(".csv").is_file()
  assert "2/4" in done.stderr  # progress bar

  external = subprocess.run(command[:3] + ["external:vtm.csv"] + command[4:], capture_output=True,
                            text=True, timeout=120, check=False)
  assert external.returncode != 0 and "cannot encode" in external.stderr + external.stdout
