"""The versioned model zoo: ``zoo/<model>/<version>/q<quality>/`` SavedModels plus manifests.

``zoo/<model>/manifest.json`` describes every version and quality of a model: config, lambda,
training steps and data, TF/TFC versions, measured Kodak results, and the sha256 of every
file (verified on load). ``zoo/zoo.json`` names the default model and quality.

Where the zoo is (:func:`root`): ``$TFC_SWIN_ZOO`` if set; else the copy installed with the
package (``pip install .`` ships zoo/ as ``tfc_swin/zoo_data``, see setup.py); else zoo/ of
the source checkout the package runs from (editable install).

    coder = tfc_swin.zoo.load("swint-hyperprior-cpu", quality=2)
    data = coder.compress_array(image)
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from typing import Any

import tensorflow as tf

from tfc_swin import fileio
from tfc_swin.codecs import CodingModule, ImageCodec
from tfc_swin.coder import MODEL_INFO_FILE, Coder, ModelId


class ZooError(ValueError):
  """A missing model/quality/version, or zoo files that fail their checksum."""


ZOO_ENV = "TFC_SWIN_ZOO"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
INSTALLED_ZOO = os.path.join(_PACKAGE, "zoo_data")
CHECKOUT_ZOO = os.path.join(os.path.dirname(_PACKAGE), "zoo")


def find_root() -> str | None:
  """The zoo folder (see the module docstring), or None when there is none."""
  configured = os.environ.get(ZOO_ENV)
  if configured:
    return configured
  return next((f for f in (INSTALLED_ZOO, CHECKOUT_ZOO) if os.path.isdir(f)), None)


def root() -> str:
  """The zoo folder; a ZooError saying where it was looked for when there is none."""
  found = find_root()
  if found is None:
    raise ZooError(f"no model zoo found (looked in {INSTALLED_ZOO} and {CHECKOUT_ZOO}); set "
                   f"{ZOO_ENV} to a zoo folder, e.g. the zoo/ of a tfc_swin source checkout")
  return found


def _read_json(path: str) -> dict:
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    raise ZooError(f"{path} does not exist") from None


def models() -> list[str]:
  """Names of the models shipped in the zoo."""
  base = root()
  if not os.path.isdir(base):
    raise ZooError(f"{ZOO_ENV}={base}: no such folder")
  return sorted(d for d in os.listdir(base)
                if os.path.exists(os.path.join(base, d, "manifest.json")))


def available_models() -> list[str]:
  """:func:`models`, or none when there is no zoo at all (a wheel without zoo data)."""
  return models() if find_root() else []


def manifest(name: str) -> dict:
  if name not in models():
    raise ZooError(f"no model {name!r} in the zoo at {root()}; shipped: "
                   f"{', '.join(models()) or 'none'}")
  return _read_json(os.path.join(root(), name, "manifest.json"))


def default() -> dict:
  """``{"model": ..., "quality": ...}`` from zoo/zoo.json."""
  path = os.path.join(root(), "zoo.json")
  if not os.path.exists(path):
    raise ZooError(f"the zoo at {root()} has no default model (zoo/zoo.json)")
  return _read_json(path)["default"]


def _version(name: str, version: str) -> tuple[str, dict]:
  versions = manifest(name)["versions"]
  if version == "latest":
    version = max(versions, key=int)
  if version not in versions:
    raise ZooError(f"{name} has no version {version}; versions: {', '.join(sorted(versions))}")
  return version, versions[version]


def version_records(name: str, version: str = "latest") -> tuple[str, dict[str, dict]]:
  """The resolved version and its manifest records, keyed by quality (as strings)."""
  version, record = _version(name, version)
  return version, record["qualities"]


def qualities(name: str | None = None, version: str = "latest") -> list[int]:
  """Qualities (1 = lowest rate) of a zoo model, of the default model when None."""
  name = name or default()["model"]
  return sorted(int(q) for q in _version(name, version)[1]["qualities"])


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _file_hashes(folder: str) -> dict[str, str]:
  return {os.path.relpath(os.path.join(d, f), folder): _sha256(os.path.join(d, f))
          for d, _, files in os.walk(folder) for f in sorted(files)}


def load(name: str | None = None, quality: int | None = None, version: str = "latest"
         ) -> Coder:
  """Loads a zoo model as a :class:`Coder`, verifying the sha256 of every file."""
  if name is None:
    d = default()
    name, version = d["model"], d.get("version", version)
    quality = quality if quality is not None else d["quality"]
  version, entry = _version(name, version)
  if quality is None:
    quality = max(int(q) for q in entry["qualities"])
  q = entry["qualities"].get(str(quality))
  if q is None:
    raise ZooError(f"{name} version {version} has no quality {quality}; qualities: "
                   f"{', '.join(sorted(entry['qualities']))}")
  folder = os.path.join(root(), name, version, f"q{quality}")
  actual = _file_hashes(folder) if os.path.isdir(folder) else {}
  if actual != q["files"]:
    bad = sorted(set(actual.items()) ^ set(q["files"].items()))
    raise ZooError(f"{folder}: files do not match the manifest checksums "
                   f"({len(bad)} differing entries, e.g. {bad[0][0]})")
  return Coder.from_saved_model(folder)


def _without_keras_traces():
  """Keras would also save a traced ``call`` of every layer (3-4x the graph size of the
  codec's two signatures, which are all the zoo needs). Keras 2.14 exposes the switch only
  through this module (see BUILD_NOTES.md)."""
  from keras.src.saving.legacy.saved_model import utils  # pylint: disable=import-outside-toplevel
  return utils.keras_option_scope(save_traces=False)


def save_model(codec: CodingModule, path: str, info: dict[str, Any]) -> None:
  """Writes a prepared codec's :meth:`~CodingModule.serving_module` with its coding functions
  as signatures, and ``info`` as :data:`MODEL_INFO_FILE`, to ``path`` (a new folder; atomic)."""
  if os.path.exists(path):
    raise FileExistsError(f"{path} exists")
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".export-")
  try:
    with _without_keras_traces():
      tf.saved_model.save(codec.serving_module(), tmp, signatures=codec.coding_functions())
    with open(os.path.join(tmp, MODEL_INFO_FILE), "w") as f:
      json.dump(info, f, indent=1)
    os.replace(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def export_codec(codec: ImageCodec, path: str, name: str, description: str = "") -> ModelId:
  """Writes a SavedModel with ``compress`` / ``decompress`` signatures to ``path`` (atomic)."""
  if os.path.exists(path):
    raise FileExistsError(f"{path} exists")
  coder = Coder.from_codec(codec, name, description)
  save_model(codec, path, {"name": name, "config": codec.config.name,
                           "fingerprint": coder.model_id.fingerprint,
                           "description": description, "codec_config": codec.config.to_dict()})
  return coder.model_id


def add_to_zoo(codec: ImageCodec, name: str, version: str, quality: int,
               record: dict[str, Any]) -> str:
  """Exports ``codec`` as ``zoo/<name>/<version>/q<quality>`` and records it in the manifest.

  ``record`` holds what the manifest should say about this quality (lmbda, steps,
  training_data, kodak results, ...); versions of TF/TFC and file hashes are added here.
  """
  folder = os.path.join(root(), name, version, f"q{quality}")
  model_id = export_codec(codec, folder, f"{name}/{version}/q{quality}",
                          f"{codec.config.description}, zoo {name} v{version} q{quality}, "
                          f"lambda {record.get('lmbda')}, "
                          f"{record.get('total_steps', record.get('steps'))} training steps")
  path = os.path.join(root(), name, "manifest.json")
  data = _read_json(path) if os.path.exists(path) else {
      "model": name, "family": codec.config.family, "config": codec.config.to_dict(),
      "versions": {}}
  entry = data["versions"].setdefault(version, {"qualities": {}})
  entry["qualities"][str(quality)] = {
      **record, "fingerprint": model_id.fingerprint, "files": _file_hashes(folder),
      "tensorflow": tf.__version__,
      "tensorflow_compression": metadata.version("tensorflow-compression"),
      "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
  fileio.write_json(path, data, sort_keys=True)
  return folder


def remove_version(name: str, version: str) -> None:
  """Deletes ``zoo/<name>/<version>/`` and its manifest entry (not the default's version)."""
  version, _ = _version(name, version)
  chosen = default() if os.path.exists(os.path.join(root(), "zoo.json")) else {}
  if (chosen.get("model"), chosen.get("version")) == (name, version):
    raise ZooError(f"{name} v{version} is the zoo default (zoo/zoo.json); change it first")
  path = os.path.join(root(), name, "manifest.json")
  data = _read_json(path)
  del data["versions"][version]
  fileio.write_json(path, data, sort_keys=True)
  shutil.rmtree(os.path.join(root(), name, version))
