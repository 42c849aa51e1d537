"""Atomic file writes: the data goes to a temporary file in the target's folder, which is then
renamed over the target, so readers never see a partial file and a crash loses nothing."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def check_writable(path: str, force: bool = False, protect: tuple[str, ...] = ()) -> str:
  """The absolute path of an output :func:`atomic_write` may write; FileExistsError if it is one
  of the ``protect`` paths (the inputs), or exists and not ``force``."""
  target = os.path.abspath(path)
  for p in protect:
    if os.path.exists(p) and os.path.exists(target) and os.path.samefile(p, target):
      raise FileExistsError(f"{path}: refusing to overwrite the input file")
  if os.path.exists(target) and not force:
    raise FileExistsError(f"{path}: exists (use --force to replace it)")
  return target


def atomic_write(path: str, write: Callable[[str], None], force: bool = False,
                 protect: tuple[str, ...] = ()) -> None:
  """Calls ``write(tmp_path)`` and renames the result to ``path``.

  Refuses to overwrite an existing ``path`` unless ``force``, and never overwrites any of the
  ``protect`` paths (the inputs). A failure leaves no partial file.
  """
  target = check_writable(path, force, protect)
  directory = os.path.dirname(target)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"{path}: folder {directory} does not exist")
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tfc_swin-", suffix=".part")
  os.close(fd)
  try:
    write(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
    os.replace(tmp, target)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def write_text(path: str | Path, text: str) -> None:
  """Writes (or replaces) a text file atomically, creating its folder."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

  def write(tmp: str) -> None:
    with open(tmp, "w", encoding="utf-8", newline="") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())

  atomic_write(str(path), write, force=True)


def write_json(path: str | Path, obj: Any, **dump_args: Any) -> None:
  """Writes ``obj`` as JSON (indent 1 unless given) plus a newline, atomically."""
  write_text(path, json.dumps(obj, **{"indent": 1, **dump_args}) + "\n")


def append_json_record(path: str | Path, record: Any) -> None:
  """Appends ``record`` to the JSON list in ``path`` (a new list if there is no file),
  atomically."""
  records = json.loads(Path(path).read_text()) if os.path.exists(path) else []
  write_json(path, records + [record])
