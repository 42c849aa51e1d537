r"""Decoder robustness stress: damaged and crafted files must give a one-line error, quickly.

    nice python experiments/stress_decoder.py \
        --models conv-hyperprior-tiny,conv-charm-tiny,swint-hyperprior-tiny,swint-charm-tiny \
        --flips 10000 --crafted 1000
    nice python experiments/stress_decoder.py --models default --max_pixels 262144 \
        --timeout 120
    nice python experiments/stress_decoder.py --models default --checks service,kill

For each model (a config name = untrained tiny weights, a zoo name, ``default`` = the zoo
default, or a SavedModel folder) it codes one small image (a 96x128 crop of the bundled
sample, a second crop, and an RGBA version) and decodes:

* every ``--truncation_step``-th truncation of the file (default: every one),
* ``--flips`` seeded flips of 1 to 8 random bits anywhere in the file,
* ``--crafted`` files with a *valid* CRC (anyone can recompute it) and crafted fields:
  dimensions, string count, string lengths, string bytes, header fields, index checksum,
  strings or header taken from the second file, alpha planes (a zlib bomb inflating to 2 GiB
  among them), and random bytes.

Every case is decoded in the library's killable worker process
(:class:`tfc_swin.isolation.IsolatedCoder`, the one the CLI uses) with a per-case time limit
(``--timeout``) and a memory limit (``--max_rss_growth_mb`` above the worker's resident size
once its model is loaded, polled every 20 ms), with the pixel limit ``--max_pixels``.
Outcomes: the error class (a one-line BitstreamError subclass); ``decoded`` (no error: a change
the format cannot see, e.g. a smaller size inside the same 64-pixel block); ``valid file`` (the
crafted bytes equal a real file); or a failure: ``crash`` (worker died), ``hang`` (time
limit), ``memory`` (memory limit), ``traceback`` (any other exception, or a message that is not
one line). A case that hangs is run again through ``tfc-swin decompress --timeout
--cli_timeout``, which must end it with a one-line error. The table (per model and mutation
kind) goes to stdout, ``--output`` also writes JSON (with per-mutation counts and an example
message per outcome). Exit status 1 if any case failed.

``--checks service`` measures resident memory over ``--calls`` compress + decompress calls in
one process and checks that ``--threads`` threads sharing one loaded model write
byte-identical files; ``--checks kill`` kills ``tfc-swin compress`` / ``decompress`` with
SIGKILL at random times (``--kills``) and checks the output is absent or complete, the
input unchanged and the decode worker gone within 30 s of its parent (Linux; the seconds it
took are reported). See docs/robustness.md.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from absl import app, flags

from tfc_swin.bitstream import BitstreamError, varint
from tfc_swin.eval.tables import markdown_table
from tfc_swin.isolation import (DecodeTimeoutError, IsolatedCoder, MemoryLimitError,
                                WorkerCrashError, process_alive, rss_kb)


if TYPE_CHECKING:  # numpy is imported where it is used
  import numpy as np

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["conv-hyperprior-tiny", "conv-charm-tiny", "swint-hyperprior-tiny",
                             "swint-charm-tiny"], "Models: config names, zoo names, 'default'.")
flags.DEFINE_integer("flips", 10000, "Seeded bit-flip cases per model.")
flags.DEFINE_integer("crafted", 1000, "Crafted valid-CRC cases per model.")
flags.DEFINE_integer("truncation_step", 1, "Every n-th truncation (1 = every truncation).")
flags.DEFINE_integer("seed", 0, "Seed of the flips and crafted cases.")
flags.DEFINE_float("timeout", 60.0, "Per-case time limit in seconds (a hang).")
flags.DEFINE_integer("max_rss_growth_mb", 2048,
                     "Memory limit: resident size above the worker's baseline after set-up.")
flags.DEFINE_integer("max_pixels", 1 << 20, "The decoder's pixel limit for this run.")
flags.DEFINE_float("cli_timeout", 30.0,
                   "A case that hangs is run again through `tfc-swin decompress --timeout` "
                   "with this limit; it must end with a one-line error.")
flags.DEFINE_string("output", None, "Also write the results to this JSON file.")
flags.DEFINE_list("checks", ["decoder"], "What to run: decoder (damaged and crafted files), "
                  "service (memory over --calls calls, --threads threads), kill (kill -9).")
flags.DEFINE_integer("calls", 200, "service: compress + decompress calls in one process.")
flags.DEFINE_integer("threads", 4, "service: threads sharing one loaded model.")
flags.DEFINE_integer("kills", 20, "kill: kill -9 runs of compress / decompress (alternating).")

HEIGHT, WIDTH = 96, 128
FAILURES = ("crash", "hang", "memory", "traceback")
WORKER_FAILURES = {WorkerCrashError: "crash", DecodeTimeoutError: "hang",
                   MemoryLimitError: "memory"}
CRAFTED_KINDS = ("dims", "count", "strings", "length", "string bytes", "header fields",
                 "index checksum", "other file", "alpha", "random bytes")


# -- files: a raw writer that can write anything ----------------------------------------------


def raw_pack(f: dict[str, Any]) -> bytes:
  """Serializes a field dict (see :func:`fields`) as tfc_swin bytes, with a valid CRC."""
  out = bytearray(b"TFSW") + bytes([f["version"] & 0xFF, f["mode"] & 0xFF])
  for key in ("model", "config"):
    out += varint(f.get(key + "_len", len(f[key]))) + f[key]
  out += f["fingerprint"] + varint(f["height"]) + varint(f["width"])
  if f["checksums"]:  # Format version 2: tile side, checksums per tile, strings per tile.
    flat = [c & 0xFFFFFFFF for tile in f["checksums"] for c in tile]
    out += varint(f["tile_side"]) + varint(len(f["checksums"][0]))
    out += struct.pack(f">{len(flat)}I", *flat)
    out += varint(f.get("count", len(f["strings"]) // len(f["checksums"])))
  else:
    out += struct.pack(">I", f["checksum"] & 0xFFFFFFFF)
    out.append(f.get("count", len(f["strings"])) & 0xFF)
  lengths = f.get("lengths") or [len(s) for s in f["strings"]]
  for n, s in zip(lengths, f["strings"]):
    out += varint(n) + s
  if f.get("alpha") is not None:
    out += varint(f.get("alpha_len", len(f["alpha"]))) + f["alpha"]
  out += f.get("tail", b"")
  return bytes(out + struct.pack(">I", zlib.crc32(out)))


def fields(data: bytes) -> dict[str, Any]:
  """The fields of a valid file, as :func:`raw_pack` takes them."""
  from tfc_swin import bitstream  # pylint: disable=import-outside-toplevel
  s = bitstream.unpack(data)
  h = s.header
  return {"version": h.version, "mode": bitstream.COLOR_MODES[h.color_mode],
          "model": h.model.encode(), "config": h.config.encode(),
          "fingerprint": bytes.fromhex(h.fingerprint), "height": h.height, "width": h.width,
          "checksum": h.index_checksum, "tile_side": h.tile_side,
          "checksums": [list(t) for t in h.tile_checksums], "strings": list(s.strings),
          "alpha": s.alpha if h.has_alpha else None}


def alpha_bomb(size: int = 1 << 31, chunk: int = 1 << 20) -> bytes:
  """A valid zlib stream of ``size`` zero bytes (2 MB for 2 GiB), made without inflating it:
  raw deflate of one chunk after a full flush repeats byte for byte; adler32 of n zeros is
  ((n mod 65521) << 16) | 1."""
  deflater, zeros = zlib.compressobj(9, zlib.DEFLATED, -15), bytes(chunk)
  first = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
  again = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
  final = deflater.flush(zlib.Z_FINISH)
  adler = ((size % 65521) << 16) | 1
  return b"\x78\xda" + first + again * (size // chunk - 1) + final + struct.pack(">I", adler)


def _pick(rng, options):
  return options[int(rng.integers(len(options)))]


def craft(kind: str, rng: np.random.Generator, files: dict[str, bytes], bomb: bytes
          ) -> tuple[str, bytes]:
  """One crafted valid-CRC file of a kind: (description, bytes)."""
  a, b = fields(files["a"]), fields(files["b"])
  f = fields(files["rgba"]) if kind == "alpha" else dict(a)
  n = len(f["strings"])
  i = int(rng.integers(n))
  if kind == "dims":
    side = _pick(rng, ["height", "width", "both"])
    change = _pick(rng, ["+1", "-1", "+63", "-63", "+64", "-64", "+65", "+128", "*2", "//2",
                         "0", "1", "random", "65536", "max", "max+1", "2^32", "2^63"])
    for key in (["height", "width"] if side == "both" else [side]):
      v = f[key]
      f[key] = {"+1": v + 1, "-1": v - 1, "+63": v + 63, "-63": max(0, v - 63), "+64": v + 64,
                "-64": max(0, v - 64), "+65": v + 65, "+128": v + 128, "*2": 2 * v,
                "//2": v // 2, "0": 0, "1": 1, "random": int(rng.integers(1, 1 << 20)),
                "65536": 65536, "max": 1 << 20, "max+1": (1 << 20) + 1, "2^32": 1 << 32,
                "2^63": 1 << 63}[change]
    return f"{side} {change}", raw_pack(f)
  if kind == "count":
    f["count"] = int(_pick(rng, [0, n - 1, n + 1, 255, int(rng.integers(256))]))
    return f"count {f['count']}", raw_pack(f)
  if kind == "strings":
    op = _pick(rng, ["drop", "duplicate", "extra", "swap", "reverse", "empty"])
    s = list(f["strings"])
    if op == "drop" and n > 1:
      del s[i]
    elif op == "duplicate":
      s.insert(i, s[i])
    elif op == "extra":
      s.append(rng.bytes(int(rng.integers(1, 64))))
    elif op == "swap" and n > 1:
      j = (i + 1) % n
      s[i], s[j] = s[j], s[i]
    elif op == "reverse":
      s = s[::-1]
    else:
      s[i] = b""
    f["strings"] = s
    return f"strings {op}", raw_pack(f)
  if kind == "length":
    lengths = [len(s) for s in f["strings"]]
    lengths[i] = max(0, lengths[i] + _pick(rng, [-3, -2, -1, 1, 2, 3, 1000, 1 << 40]))
    f["lengths"] = lengths
    return f"length of string {i}", raw_pack(f)
  if kind == "string bytes":
    s = bytearray(f["strings"][i])
    op = _pick(rng, ["byte", "bytes", "last byte", "cut", "append", "random", "zeros", "one"])
    if op == "byte":
      s[int(rng.integers(len(s)))] ^= int(rng.integers(1, 256))
    elif op == "bytes":
      for _ in range(int(rng.integers(2, 9))):
        s[int(rng.integers(len(s)))] ^= int(rng.integers(1, 256))
    elif op == "last byte":
      s[-1] ^= int(rng.integers(1, 256))
    elif op == "cut":
      s = s[:max(1, len(s) - int(rng.integers(1, 8)))]
    elif op == "append":
      s += rng.bytes(int(rng.integers(1, 8)))
    elif op == "random":
      s = bytearray(rng.bytes(len(s)))
    elif op == "zeros":
      s = bytearray(len(s))
    else:
      s = bytearray(rng.bytes(1))
    f["strings"] = f["strings"][:i] + [bytes(s)] + f["strings"][i + 1:]
    return f"string {'z' if i == 0 else 'y'} {op}", raw_pack(f)
  if kind == "header fields":
    op = _pick(rng, ["mode", "fingerprint", "config", "model", "model bytes", "long name",
                     "version", "tail"])
    if op == "mode":
      f["mode"] = int(rng.integers(4, 256))
    elif op == "fingerprint":
      f["fingerprint"] = rng.bytes(8)
    elif op == "config":
      f["config"] = b"conv-charm-tiny" if f["config"] != b"conv-charm-tiny" else b"x"
    elif op == "model":
      f["model"] = b"somebody/1/q1"
    elif op == "model bytes":
      f["model"] = rng.bytes(int(rng.integers(1, 16)))
    elif op == "long name":
      f["model"] = b"m" * 5000
    elif op == "version":
      f["version"] = int(rng.integers(3, 256))
    else:
      f["tail"] = rng.bytes(int(rng.integers(1, 16)))
    return f"header {op}", raw_pack(f)
  if kind == "index checksum":
    op = _pick(rng, ["+1", "-1", "+65521", "random", "2^31-1", "2^32-1"])
    checks = [list(t) for t in f["checksums"]] or [[f["checksum"]]]
    j = int(rng.integers(len(checks[0]))) if len(checks[0]) > 1 else 0  # Of the first tile.
    v = checks[0][j]
    checks[0][j] = {"+1": v + 1, "-1": v - 1, "+65521": v + 65521,
                    "random": int(rng.integers(1 << 31)), "2^31-1": (1 << 31) - 1,
                    "2^32-1": (1 << 32) - 1}[op] % (1 << 32)
    f["checksum"], f["checksums"] = checks[0][0], checks if f["checksums"] else []
    return f"checksum {op}", raw_pack(f)
  if kind == "other file":
    op = _pick(rng, ["header a + strings b", "header b + strings a", "z of b", "y of b",
                     "one string of b"])
    if op == "header a + strings b":
      f["strings"] = b["strings"]
    elif op == "header b + strings a":
      f = dict(b, strings=a["strings"])
    elif op == "z of b":
      f["strings"] = b["strings"][:1] + a["strings"][1:]
    elif op == "y of b":
      f["strings"] = a["strings"][:1] + b["strings"][1:]
    else:
      f["strings"] = a["strings"][:i] + [b["strings"][i]] + a["strings"][i + 1:]
    return f"other file: {op}", raw_pack(f)
  if kind == "alpha":
    op = _pick(rng, ["bomb", "too big", "too small", "garbage", "trailing", "cut", "no alpha",
                     "alpha on RGB", "length"])
    raw = zlib.decompress(f["alpha"])
    if op == "bomb":
      f["alpha"] = bomb
    elif op == "too big":
      f["alpha"] = zlib.compress(raw + raw)
    elif op == "too small":
      f["alpha"] = zlib.compress(raw[:-1])
    elif op == "garbage":
      f["alpha"] = rng.bytes(len(f["alpha"]))
    elif op == "trailing":
      f["alpha"] += b"\x00" * int(rng.integers(1, 8))
    elif op == "cut":
      f["alpha"] = f["alpha"][:-int(rng.integers(1, 4))]
    elif op == "no alpha":
      f["alpha"] = None
    elif op == "alpha on RGB":
      f["mode"] = 0
    else:
      f["alpha_len"] = len(f["alpha"]) + _pick(rng, [-1, 1, 1 << 30])
    return f"alpha {op}", raw_pack(f)
  data = bytearray(files["a"][:-4])  # random bytes
  for _ in range(int(rng.integers(1, 5))):
    data[int(rng.integers(4, len(data)))] = int(rng.integers(256))
  return "random bytes", bytes(data) + struct.pack(">I", zlib.crc32(bytes(data)))


def cases(sizes: dict[str, int], flips: int, crafted: int, step: int) -> list[tuple[str, int]]:
  """The case list of one model (kind, index); :meth:`ModelCases.make` makes each case."""
  out = [("truncation", n) for n in range(0, sizes["a"], step)]
  out += [("flip", i) for i in range(flips)]
  out += [("crafted", i) for i in range(crafted)]
  return out


# -- the cases of one model -------------------------------------------------------------------
class ModelCases:
  """One model in a killable worker (:class:`tfc_swin.isolation.IsolatedCoder`), its files
  and the damaged and crafted cases made from them; each case is decoded in the worker."""

  def __init__(self, spec: str, model_index: int, max_pixels: int, seed: int,
               timeout: float, memory_mb: float):
    import numpy as np  # pylint: disable=import-outside-toplevel
    from PIL import Image  # pylint: disable=import-outside-toplevel
    from tfc_swin.cli import SAMPLE_IMAGE  # pylint: disable=import-outside-toplevel
    self.np, self.max_pixels, self.seed, self.model_index = np, max_pixels, seed, model_index
    self.coder = IsolatedCoder(None if spec == "default" else spec, timeout=timeout,
                               memory_limit_mb=memory_mb)
    sample = np.asarray(Image.open(SAMPLE_IMAGE).convert("RGB"))
    a, b = sample[:HEIGHT, :WIDTH], sample[-HEIGHT:, -WIDTH:]
    alpha = np.tile(np.arange(WIDTH, dtype=np.uint8) * 2, (HEIGHT, 1))
    self.files = {"a": self.coder.compress_array(a), "b": self.coder.compress_array(b),
                  "rgba": self.coder.compress_array(a, "RGBA", alpha)}
    self.reference = self.warm_up()
    self.setup_rss_kb = rss_kb(self.coder.pid)  # The worker's size after set-up.
    self.bomb = alpha_bomb()

  def warm_up(self) -> np.ndarray:
    """Decodes the valid file (starting the worker and tracing its decoder): the image."""
    return self.coder.decompress_array(self.files["a"], max_pixels=self.max_pixels)[0]

  def make(self, kind: str, index: int) -> tuple[str, bytes]:
    """One case: (label, bytes)."""
    data = self.files["a"]
    if kind == "truncation":
      return "truncation", data[:index]
    rng = self.np.random.default_rng([self.seed, self.model_index, index, int(kind == "flip")])
    if kind == "flip":
      buf = bytearray(data)
      bits = 1 if index % 2 == 0 else int(rng.integers(2, 9))
      for _ in range(bits):
        buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
      return ("1 bit" if bits == 1 else "2-8 bits"), bytes(buf)
    return craft(CRAFTED_KINDS[index % len(CRAFTED_KINDS)], rng, self.files, self.bomb)

  def run(self, data: bytes) -> tuple[str, str]:
    """Decodes one case in the worker: (outcome, message)."""
    if data in self.files.values():  # E.g. the strings of another file that are the same bytes.
      return "valid file", "same bytes as a valid file"
    try:
      image = self.coder.decompress_array(data, max_pixels=self.max_pixels)[0]
    except (DecodeTimeoutError, WorkerCrashError, MemoryLimitError) as e:
      return WORKER_FAILURES[type(e)], str(e)
    except BitstreamError as e:
      message = str(e)
      one_line = message and "\n" not in message and "Traceback" not in message
      return (type(e).__name__ if one_line else "traceback"), message
    except Exception as e:  # pylint: disable=broad-except
      return "traceback", f"{type(e).__name__}: {e}"[-500:]
    same = image.shape == self.reference.shape and self.np.array_equal(image, self.reference)
    return "decoded", "same image" if same else f"image {image.shape[:2]}"


# -- long-running use and crash safety ---------------------------------------------------------
def service_check(spec: str, calls: int = 200, threads: int = 4, warmup: int = 10
                  ) -> dict[str, Any]:
  """Memory over ``calls`` compress + decompress calls in this process, and ``threads``
  threads sharing one loaded coder (files must be byte-identical to one thread's)."""
  import concurrent.futures  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  from tfc_swin.api import load_coder  # pylint: disable=import-outside-toplevel
  from tfc_swin.cli import SAMPLE_IMAGE  # pylint: disable=import-outside-toplevel
  coder = load_coder(None if spec == "default" else spec)
  image = np.asarray(Image.open(SAMPLE_IMAGE).convert("RGB"))
  for _ in range(warmup):
    coder.decompress_array(coder.compress_array(image))
  rss = [rss_kb()]
  t0 = time.monotonic()
  for i in range(calls):
    coder.decompress_array(coder.compress_array(image))
    if (i + 1) % max(1, calls // 10) == 0:
      rss.append(rss_kb())
  seconds = time.monotonic() - t0
  reference = coder.compress_array(image)
  decoded = coder.decompress_array(reference)[0]

  def job(_):
    data = coder.compress_array(image)
    return data, coder.decompress_array(data)[0]

  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    results = list(pool.map(job, range(4 * threads)))
  return {"model": coder.name, "image": f"{image.shape[1]}x{image.shape[0]}", "calls": calls,
          "seconds_per_call": round(seconds / calls, 3),
          "rss_mb": [round(r / 1024, 1) for r in rss],
          "rss_growth_mb": round((rss[-1] - rss[0]) / 1024, 1),
          "rss_growth_second_half_mb": round((rss[-1] - rss[len(rss) // 2]) / 1024, 1),
          "threads": threads, "thread_calls": len(results),
          "threads_identical_files": all(d == reference for d, _ in results),
          "threads_identical_images": all(np.array_equal(x, decoded) for _, x in results)}


ORPHAN_WAIT_S = 30.0  # A worker polls its parent every 0.5 s (tfc_swin/isolation.py).


def child_pids(pid: int) -> list[int]:
  """Live child processes of ``pid`` (Linux /proc; empty elsewhere)."""
  children = []
  for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
    try:
      with open(f"/proc/{entry}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
      continue
    if ppid == pid:
      children.append(int(entry))
  return children


def wait_gone(pids: list[int], wait: float) -> tuple[int, float]:
  """Waits up to ``wait`` seconds for ``pids`` to end: (how many still run, which are then
  killed; seconds until the last ended)."""
  t0 = time.monotonic()
  while (alive := [p for p in pids if process_alive(p)]) and time.monotonic() - t0 < wait:
    time.sleep(0.05)
  for p in alive:
    os.kill(p, signal.SIGKILL)  # Do not leave it running after counting it.
  return len(alive), time.monotonic() - t0


def kill_check(spec: str, kills: int, folder: str, seed: int = 0) -> dict[str, Any]:
  """kill -9 of `tfc-swin compress` / `decompress` at random times: the output must be absent
  or complete, the input unchanged. Counts leftover temporary files (.tfc_swin-*.part)."""
  import hashlib  # pylint: disable=import-outside-toplevel
  import random  # pylint: disable=import-outside-toplevel
  from tfc_swin.cli import SAMPLE_IMAGE  # pylint: disable=import-outside-toplevel
  rng = random.Random(seed)
  folder = tempfile.mkdtemp(dir=folder, prefix="kill-")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  model = [] if spec == "default" else ["--model", spec]
  src = os.path.join(folder, "in.png")
  shutil.copyfile(SAMPLE_IMAGE, src)
  full = {"compress": [src, os.path.join(folder, "full.tfsw")],
          "decompress": [os.path.join(folder, "full.tfsw"), os.path.join(folder, "full.png")]}
  durations = {}
  for command, (inp, out) in full.items():
    for _ in range(2):  # The second run is timed: the first fills the graph cache.
      t0 = time.monotonic()
      subprocess.run([sys.executable, "-m", "tfc_swin", command, inp, out, "--force", *model],
                     env=env, check=True, capture_output=True)
      durations[command] = time.monotonic() - t0
  expected = {c: Path(out).read_bytes() for c, (_, out) in full.items()}
  report = {"kills": 0, "output_absent": 0, "output_complete": 0, "output_partial": 0,
            "input_changed": 0, "finished_before_kill": 0, "leftover_temp_files": 0,
            "orphan_workers": 0, "worker_exit_s": [], "durations_s": {c: round(d, 1) for c, d in durations.items()}}
  for i in range(kills):
    command = ("compress", "decompress")[i % 2]
    inp = full[command][0]
    before = hashlib.sha256(Path(inp).read_bytes()).hexdigest()
    out = os.path.join(folder, f"kill{i}" + (".tfsw" if command == "compress" else ".png"))
    proc = subprocess.Popen([sys.executable, "-m", "tfc_swin", command, inp, out, *model],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.0, durations[command]))
    workers = child_pids(proc.pid)  # decompress: its decode worker, if started.
    if proc.poll() is None:
      os.kill(proc.pid, signal.SIGKILL)  # Our own child.
      report["kills"] += 1
    else:
      report["finished_before_kill"] += 1
    proc.wait()
    orphans, seconds = wait_gone(workers, ORPHAN_WAIT_S)
    report["orphan_workers"] += orphans
    if workers:
      report["worker_exit_s"].append(round(seconds, 2))
    if not os.path.exists(out):
      report["output_absent"] += 1
    elif Path(out).read_bytes() == expected[command]:
      report["output_complete"] += 1
    else:
      report["output_partial"] += 1
    if hashlib.sha256(Path(inp).read_bytes()).hexdigest() != before:
      report["input_changed"] += 1
  report["leftover_temp_files"] = len([f for f in os.listdir(folder) if f.startswith(".tfc_swin-")])
  return report


# -- the parent --------------------------------------------------------------------------------
def run_cli(spec: str, data: bytes, folder: str) -> dict[str, Any]:
  """Decodes one case with `tfc-swin decompress` (its time limit ends a hang)."""
  path, out = os.path.join(folder, "hang.tfsw"), os.path.join(folder, "hang.png")
  with open(path, "wb") as f:
    f.write(data)
  command = [sys.executable, "-m", "tfc_swin", "decompress", path, out, "--force",
             f"--max-pixels={FLAGS.max_pixels}", f"--timeout={FLAGS.cli_timeout}"]
  if spec != "default":
    command += ["--model", spec]
  t0 = time.monotonic()
  proc = subprocess.run(command, capture_output=True, text=True, timeout=FLAGS.cli_timeout + 600,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                        cwd=str(Path(__file__).resolve().parents[1]), check=False)
  lines = [line for line in proc.stderr.splitlines() if line.startswith("tfc-swin: ")]
  return {"exit": proc.returncode, "stderr": lines[-1] if lines else proc.stderr[-300:],
          "one_line": len(lines) == 1 and proc.stderr.count("Traceback") == 0,
          "seconds": round(time.monotonic() - t0, 1), "output_written": os.path.exists(out)}


def stress_model(spec: str, model_index: int, folder: str) -> dict[str, Any]:
  """Runs every case of one model; returns counts per (group, label) and outcome."""
  model = ModelCases(spec, model_index, FLAGS.max_pixels, FLAGS.seed, FLAGS.timeout,
                     FLAGS.max_rss_growth_mb)
  counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  details: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  examples: dict[str, str] = {}
  slowest, peak_growth_kb = 0.0, 0
  cli_reruns = []
  sizes = {k: len(v) for k, v in model.files.items()}
  all_cases = cases(sizes, FLAGS.flips, FLAGS.crafted, FLAGS.truncation_step)
  try:
    for kind, index in all_cases:
      label, data = model.make(kind, index)
      t0 = time.perf_counter()
      outcome, message = model.run(data)
      if outcome == "hang":
        cli = run_cli(spec, data, folder)
        cli_reruns.append({"case": f"{kind} {index} ({label})", **cli})
        message = (f"hang; through the CLI: exit {cli['exit']} after {cli['seconds']} s: "
                   f"{cli['stderr']}")
      elif outcome not in FAILURES and model.coder.pid:
        slowest = max(slowest, time.perf_counter() - t0)
        peak_growth_kb = max(peak_growth_kb, rss_kb(model.coder.pid) - model.setup_rss_kb)
      group = kind if kind != "crafted" else "crafted: " + CRAFTED_KINDS[index % len(CRAFTED_KINDS)]
      counts[group][outcome] += 1
      details[label][outcome] += 1
      examples.setdefault(f"{label} | {outcome}", message[:300])
      if outcome in FAILURES:
        print(f"FAILURE {spec} {kind} {index} ({label}): {outcome}: {message}", flush=True)
        model.warm_up()  # A fresh worker, before the next case's clock starts.
  finally:
    model.coder.close()
  return {"model": spec, "file_bytes": sizes, "cases": len(all_cases),
          "counts": {g: dict(c) for g, c in counts.items()},
          "details": {g: dict(c) for g, c in sorted(details.items())},
          "slowest_case_seconds": round(slowest, 3),
          "peak_rss_growth_mb": round(peak_growth_kb / 1024, 1), "examples": examples,
          "hangs_through_cli": cli_reruns}


def table(results: list[dict[str, Any]]) -> str:
  """Markdown: one row per model and case group, one column per outcome."""
  outcomes = sorted({o for r in results for c in r["counts"].values() for o in c},
                    key=lambda o: (o in FAILURES, o not in ("valid file", "decoded"), o))
  rows = []
  for r in results:
    total = collections.Counter()
    for group, c in r["counts"].items():
      total.update(c)
      rows.append([f"{r['model']} {group}", sum(c.values())]
                  + [c.get(o, "") for o in outcomes])
    rows.append([f"**{r['model']} total**", f"**{sum(total.values())}**"]
                + [f"**{total.get(o, 0)}**" for o in outcomes])
  return markdown_table(["model", "cases", *outcomes], rows,
                        numeric=[False] + [True] * (len(outcomes) + 1))


def main(argv: list[str]) -> None:
  del argv
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
  folder = tempfile.mkdtemp(prefix="stress_decoder-")
  results, extra = [], {}
  t0 = time.monotonic()
  try:
    for spec in FLAGS.models if "service" in FLAGS.checks else []:
      extra.setdefault("service", []).append(service_check(spec, FLAGS.calls, FLAGS.threads))
      print(json.dumps(extra["service"][-1]), flush=True)
    for spec in FLAGS.models if "kill" in FLAGS.checks else []:
      extra.setdefault("kill", []).append({"model": spec,
                                           **kill_check(spec, FLAGS.kills, folder, FLAGS.seed)})
      print(json.dumps(extra["kill"][-1]), flush=True)
    for model_index, spec in enumerate(FLAGS.models if "decoder" in FLAGS.checks else []):
      t = time.monotonic()
      result = stress_model(spec, model_index, folder)
      result["seconds"] = round(time.monotonic() - t, 1)
      results.append(result)
      print(f"{spec}: {result['cases']} cases in {result['seconds']} s, slowest case "
            f"{result['slowest_case_seconds']} s, peak RSS growth "
            f"{result['peak_rss_growth_mb']} MB", flush=True)
      for rerun in result["hangs_through_cli"]:
        print(f"  hang {rerun['case']} through the CLI: exit {rerun['exit']} after "
              f"{rerun['seconds']} s, one line: {rerun['one_line']}, output written: "
              f"{rerun['output_written']}: {rerun['stderr']}", flush=True)
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  failures = sum(n for r in results for c in r["counts"].values()
                 for o, n in c.items() if o in FAILURES)
  failures += sum(not (s["threads_identical_files"] and s["threads_identical_images"])
                  for s in extra.get("service", []))
  failures += sum(k["output_partial"] + k["input_changed"] + k["orphan_workers"]
                  for k in extra.get("kill", []))
  if results:
    print(table(results))
  print(f"failures (crash, hang, memory, traceback): {failures}; total "
        f"{time.monotonic() - t0:.0f} s")
  if FLAGS.output:
    from tfc_swin import fileio  # pylint: disable=import-outside-toplevel
    fileio.write_json(FLAGS.output, {
        "flags": {k: FLAGS[k].value for k in ("models", "flips", "crafted", "truncation_step",
                                               "seed", "timeout", "max_rss_growth_mb",
                                               "max_pixels")},
        "failures": failures, "results": results, **extra})
  sys.exit(1 if failures else 0)


if __name__ == "__main__":
  app.run(main)
