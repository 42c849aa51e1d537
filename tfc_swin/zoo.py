"""The versioned model zoo: ``zoo/<model>/<version>/q<quality>/`` SavedModels plus manifests.

``zoo/<model>/manifest.json`` describes every version and quality of a model: its kind
(``"image"``, or ``"video"`` for the P-frame codecs; manifests without one are image models),
config, lambda, training steps and data, TF/TFC versions, measured Kodak results (images), and
the sha256 of every file (verified on load). ``zoo/zoo.json`` names the default image model,
version and quality (``"default"``) and may name a default video model (``"video_default"``;
:func:`default`, :func:`set_default`). Files coded with a zoo model record its :func:`entry_name`,
``<model>/<version>/q<quality>``, which :func:`parse_entry_name` maps back.

Where the zoo is (:func:`root`): ``$TFC_SWIN_ZOO`` if set; else the copy installed with the
package (``pip install .`` ships zoo/ as ``tfc_swin/zoo_data``, see setup.py); else zoo/ of
the source checkout the package runs from (editable install).

    coder = tfc_swin.zoo.load("swint-hyperprior-cpu", quality=2)
    data = coder.compress_array(image)
    video_coder = tfc_swin.zoo.load_video("<video model>", quality=1)  # a VideoCoder
    tfc_swin.zoo.set_default("<video model>", "1", 2)  # then load_video() loads it
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from tfc_swin import fileio

# Listing, resolving and verifying zoo entries needs no TensorFlow (the command line does that
# before it imports TensorFlow's runtime, tfc_swin.fastload); loading and exporting import
# what they need.
if TYPE_CHECKING:
  from tfc_swin.codecs import ImageCodec
  from tfc_swin.codecs.video import PFrameCodec
  from tfc_swin.coder import Coder, ModelId
  from tfc_swin.video.coder import VideoCoder


class ZooError(ValueError):
  """A missing model/quality/version, or zoo files that fail their checksum."""


ZOO_ENV = "TFC_SWIN_ZOO"
#: ``kind`` of image models in manifests (video models: :data:`VIDEO_MODEL_KIND`).
IMAGE_MODEL_KIND = "image"
#: ``kind`` of the P-frame video models in manifests and exports (tfc_swin.video.coder).
VIDEO_MODEL_KIND = "video"
#: The key of each kind's default in zoo/zoo.json.
DEFAULT_KEYS = {IMAGE_MODEL_KIND: "default", VIDEO_MODEL_KIND: "video_default"}
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


def available_models(model_kind: str | None = None) -> list[str]:
  """:func:`models` (of one :func:`kind` if given), or none when there is no zoo at all (a
  wheel without zoo data)."""
  names = models() if find_root() else []
  return names if model_kind is None else [n for n in names if kind(n) == model_kind]


def manifest(name: str) -> dict:
  if name not in models():
    raise ZooError(f"no model {name!r} in the zoo at {root()}; shipped: "
                   f"{', '.join(models()) or 'none'}")
  return _read_json(os.path.join(root(), name, "manifest.json"))


def kind(name: str) -> str:
  """``"image"`` or ``"video"``: what a zoo model codes."""
  return manifest(name).get("kind", IMAGE_MODEL_KIND)


def _defaults_path() -> str:
  return os.path.join(root(), "zoo.json")


def _defaults() -> dict[str, dict]:
  """zoo/zoo.json (``{}`` when the zoo has none)."""
  path = _defaults_path()
  return _read_json(path) if os.path.exists(path) else {}


def default(model_kind: str = IMAGE_MODEL_KIND, missing_ok: bool = False) -> dict:
  """The default model of a kind: ``{"model": ..., "version": ..., "quality": ...}`` from
  zoo/zoo.json (``{}`` when there is none, or no zoo at all, and ``missing_ok``)."""
  if missing_ok and find_root() is None:
    return {}
  key = DEFAULT_KEYS[model_kind]
  chosen = _defaults().get(key)
  if chosen is None and not missing_ok:
    raise ZooError(f"the zoo at {root()} has no default {model_kind} model ({key!r} in "
                   "zoo.json); name a model (--model)")
  return chosen or {}


def set_default(name: str, version: str, quality: int | None = None) -> dict:
  """Makes zoo model ``name`` ``version`` (``"latest"``: the newest) at ``quality`` (None: the
  middle one) the default of its kind in zoo/zoo.json, keeping the other kind's default;
  returns the new default."""
  version, quality, _ = _quality(name, version, quality, middle=True)
  chosen = {"model": name, "version": version, "quality": quality}
  fileio.write_json(_defaults_path(), {**_defaults(), DEFAULT_KEYS[kind(name)]: chosen})
  return chosen


def _default_entry(model_kind: str, quality: int | None, version: str) -> tuple[str, int, str]:
  """(model, quality, version) of a kind's default; ``quality`` overrides the default's."""
  chosen = default(model_kind)
  return (chosen["model"], quality if quality is not None else chosen["quality"],
          chosen.get("version", version))


def entry_name(name: str, version: str, quality: int) -> str:
  """The model name that files coded with a zoo entry record: ``<model>/<version>/q<quality>``."""
  return f"{name}/{version}/q{quality}"


def parse_entry_name(text: str) -> tuple[str, str, int] | None:
  """(model, version, quality) of an :func:`entry_name` whose model is in the zoo, else None
  (``text`` may come from an untrusted file: it is never used as a path)."""
  parts = text.split("/")
  if (len(parts) == 3 and parts[0] in available_models() and parts[2].startswith("q")
      and parts[2][1:].isdigit()):
    return parts[0], parts[1], int(parts[2][1:])
  return None


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


def folder_record(path: str) -> dict | None:
  """The manifest record of an exported quality folder ``<zoo>/<name>/<version>/q<quality>``
  of any zoo folder (this one or a scratch one), or None when it has none."""
  quality_dir = os.path.abspath(path)
  version_dir = os.path.dirname(quality_dir)
  manifest_path = os.path.join(os.path.dirname(version_dir), "manifest.json")
  if not os.path.exists(manifest_path):
    return None
  versions = _read_json(manifest_path).get("versions", {})
  return versions.get(os.path.basename(version_dir), {}).get("qualities", {}).get(
      os.path.basename(quality_dir).lstrip("q"))


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


def _a(model_kind: str) -> str:
  """``"an image"``, ``"a video"``."""
  return f"{'an' if model_kind[:1] in 'aeiou' else 'a'} {model_kind}"


def _check_kind(name: str, wanted: str) -> None:
  """ZooError unless zoo model ``name`` is of kind ``wanted``."""
  found = kind(name)
  if found != wanted:
    use = ("`tfc-swin video` or tfc_swin.api.load_video_coder" if found == VIDEO_MODEL_KIND
           else "`tfc-swin compress / decompress` or tfc_swin.zoo.load")
    raise ZooError(f"zoo model {name} is {_a(found)} model, not {_a(wanted)} model (use {use})")


def _quality(name: str, version: str, quality: int | None, middle: bool = False
             ) -> tuple[str, int, dict]:
  """(version, quality, manifest record) of a zoo entry; ``quality`` None: the highest (the
  middle one if ``middle``)."""
  version, entry = _version(name, version)
  if quality is None:
    known = sorted(int(q) for q in entry["qualities"])
    quality = known[(len(known) - 1) // 2] if middle else known[-1]
  record = entry["qualities"].get(str(quality))
  if record is None:
    raise ZooError(f"{name} version {version} has no quality {quality}; qualities: "
                   f"{', '.join(sorted(entry['qualities']))}")
  return version, quality, record


def model_folder(name: str, quality: int | None = None, version: str = "latest",
                 model_kind: str = IMAGE_MODEL_KIND) -> str:
  """The folder of a zoo entry (``quality`` None: the highest), after checking that the model
  is of ``model_kind`` and that every file matches its manifest sha256."""
  _check_kind(name, model_kind)
  version, quality, record = _quality(name, version, quality)
  folder = os.path.join(root(), name, version, f"q{quality}")
  actual = _file_hashes(folder) if os.path.isdir(folder) else {}
  if actual != record["files"]:
    bad = sorted({f for f, _ in set(actual.items()) ^ set(record["files"].items())})
    raise ZooError(f"{folder}: files do not match the manifest checksums ({len(bad)} "
                   f"file{'s' * (len(bad) > 1)}: {', '.join(bad[:3])}{', ...' * (len(bad) > 3)})")
  return folder


def load(name: str | None = None, quality: int | None = None, version: str = "latest",
         functions_only: bool = False) -> Coder:
  """Loads a zoo image model as a :class:`Coder` (the image default when ``name`` is None; else
  ``quality`` None: the highest), verifying the sha256 of every file. ``functions_only``: see
  :meth:`Coder.from_saved_model <tfc_swin.coder.Coder.from_saved_model>`."""
  from tfc_swin.coder import Coder  # pylint: disable=import-outside-toplevel
  if name is None:
    name, quality, version = _default_entry(IMAGE_MODEL_KIND, quality, version)
  return Coder.from_saved_model(model_folder(name, quality, version), functions_only)


def load_video(name: str | None = None, quality: int | None = None, version: str = "latest"
               ) -> VideoCoder:
  """Loads a zoo video model as a :class:`~tfc_swin.video.coder.VideoCoder` (the video default
  when ``name`` is None; else ``quality`` None: the highest), verifying the sha256 of every
  file."""
  from tfc_swin.video.coder import VideoCoder  # pylint: disable=import-outside-toplevel
  if name is None:
    name, quality, version = _default_entry(VIDEO_MODEL_KIND, quality, version)
  return VideoCoder.from_saved_model(model_folder(name, quality, version, VIDEO_MODEL_KIND))


def export_codec(codec: ImageCodec, path: str, name: str, description: str = "") -> ModelId:
  """Writes a SavedModel with ``compress`` / ``decompress`` signatures to ``path`` (atomic)."""
  from tfc_swin.codecs.image import coding_options  # pylint: disable=import-outside-toplevel
  from tfc_swin.coder import Coder, save_model  # pylint: disable=import-outside-toplevel
  if os.path.exists(path):
    raise FileExistsError(f"{path} exists")
  coder = Coder.from_codec(codec, name, description)
  save_model(codec, path, {"name": name, "config": codec.config.name,
                           "fingerprint": coder.model_id.fingerprint,
                           "description": description, "codec_config": codec.config.to_dict(),
                           **coding_options(codec)})
  return coder.model_id


def add_to_zoo(codec: ImageCodec | PFrameCodec, name: str, version: str, quality: int,
               record: dict[str, Any]) -> str:
  """Exports ``codec`` as ``zoo/<name>/<version>/q<quality>`` and records it in the manifest.

  ``codec`` is an image codec or a P-frame video codec (exported by
  :func:`~tfc_swin.video.coder.export_video_codec`); a model name holds one kind only.
  ``record`` holds what the manifest should say about this quality (lmbda, steps,
  training_data, kodak results, ...); versions of TF/TFC and file hashes are added here.
  """
  from importlib import metadata  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfc_swin.codecs.video import PFrameCodec  # pylint: disable=import-outside-toplevel
  from tfc_swin.video.coder import export_video_codec  # pylint: disable=import-outside-toplevel
  is_video = isinstance(codec, PFrameCodec)
  model_kind = VIDEO_MODEL_KIND if is_video else IMAGE_MODEL_KIND
  path = os.path.join(root(), name, "manifest.json")
  data = _read_json(path) if os.path.exists(path) else {
      "model": name, "kind": model_kind, "family": codec.config.family,
      "config": codec.config.to_dict(), "versions": {}}
  if data.get("kind", IMAGE_MODEL_KIND) != model_kind:
    raise ZooError(f"zoo model {name} holds {data.get('kind', IMAGE_MODEL_KIND)} models; "
                   f"{_a(model_kind)} codec cannot be added to it (choose another name)")
  folder = os.path.join(root(), name, version, f"q{quality}")
  export = export_video_codec if is_video else export_codec
  model_id = export(codec, folder, entry_name(name, version, quality),
                    f"{codec.config.description}, zoo {name} v{version} q{quality}, "
                    f"lambda {record.get('lmbda')}, "
                    f"{record.get('total_steps', record.get('steps'))} training steps")
  entry = data["versions"].setdefault(version, {"qualities": {}})
  entry["qualities"][str(quality)] = {
      **record, "fingerprint": model_id.fingerprint, "files": _file_hashes(folder),
      "tensorflow": tf.__version__,
      "tensorflow_compression": metadata.version("tensorflow-compression"),
      "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
  fileio.write_json(path, data, sort_keys=True)
  return folder


def remove_version(name: str, version: str) -> None:
  """Deletes ``zoo/<name>/<version>/`` and its manifest entry (not a default's version)."""
  version, _ = _version(name, version)
  for key, chosen in _defaults().items():
    if (chosen.get("model"), chosen.get("version")) == (name, version):
      raise ZooError(f"{name} v{version} is the zoo {key.replace('_', ' ')} (zoo/zoo.json); "
                     "change it first")
  path = os.path.join(root(), name, "manifest.json")
  data = _read_json(path)
  del data["versions"][version]
  fileio.write_json(path, data, sort_keys=True)
  shutil.rmtree(os.path.join(root(), name, version))
