"""Coding untrusted data in a worker process that is killed on a deadline.

TFC 2.14's range decoder can loop forever on some crafted strings (docs/robustness.md, "A hang
in TFC's range decoder"), and a running TensorFlow op cannot be interrupted from Python, so a
process that decodes files from elsewhere could hang for good. :class:`IsolatedCoder` runs a
:class:`~tfc_swin.coder.Coder` in a child process:

* ``decompress_array`` gives up after ``timeout`` seconds: it kills the child and raises
  :class:`DecodeTimeoutError`;
* a child that dies raises :class:`WorkerCrashError`; one that grows by more than
  ``memory_limit_mb`` above its size after loading the model is killed with
  :class:`MemoryLimitError`;
* the next call starts a fresh child (loading the model again);
* a child exits by itself when its parent dies.

A :class:`~tfc_swin.video.coder.VideoCoder` runs the same way (``loader`` returning one):
``decompress_video`` streams the decoded frames back one at a time, each within ``timeout``
seconds, so memory stays at a few frames whatever the length of the video.

::

    from tfc_swin.isolation import IsolatedCoder
    with IsolatedCoder("swint-hyperprior-cpu", 2, timeout=30) as coder:
      rgb, header, alpha = coder.decompress_array(untrusted_bytes)
    with IsolatedCoder("<zoo video model>", loader="tfc_swin.api:load_video_coder",
                       timeout=30) as coder:
      for rgb in coder.decompress_video("untrusted.tfsv"):
        ...

Errors the child's coder raises come back as the same :class:`~tfc_swin.bitstream.BitstreamError`
subclass; other user errors (an unknown model, a bad array) as :class:`WorkerInputError`, bugs as
:class:`WorkerError` with the child's traceback. The channel carries bytes and JSON only (no
pickles), so a child that a crafted file took over cannot run code in the parent through it.
"""
from __future__ import annotations

import atexit
import dataclasses
import importlib
import itertools
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from tfc_swin.bitstream import DEFAULT_MAX_PIXELS, BitstreamError, Header, TooLargeError
from tfc_swin.video.bitstream import FrameStats

#: :data:`tfc_swin.zoo.ZOO_ENV` (not imported from there: that module loads TensorFlow).
ZOO_ENV = "TFC_SWIN_ZOO"
#: The default loader: ``tfc_swin.api.load_coder(spec=None, quality=None, version="latest")``.
LOAD_CODER = "tfc_swin.api:load_coder"

_FRAME = struct.Struct(">IQ")  # JSON bytes, payload bytes
_POLL_SECONDS = 0.02
_PARENT_POLL_SECONDS = 0.5
_READ_CHUNK = 1 << 20


class DecodeTimeoutError(BitstreamError):
  """Decoding did not finish by the deadline (most likely a crafted file on which TFC's range
  decoder loops); the worker was killed."""


class WorkerCrashError(BitstreamError):
  """The worker process died during a call (input that crashes TensorFlow / TFC, or the
  operating system killed it)."""


class MemoryLimitError(TooLargeError):
  """The worker grew above its memory limit during a call; it was killed."""


class WorkerInputError(ValueError):
  """A user error the worker raised that is not a BitstreamError (an unknown model, a bad
  array); the message is the worker's."""


class WorkerError(RuntimeError):
  """An unexpected exception in the worker (a bug); the message holds its traceback."""


def _frame(meta: dict[str, Any], payload: bytes = b"") -> bytes:
  text = json.dumps(meta).encode()
  return _FRAME.pack(len(text), len(payload)) + text + payload


def _write_all(fd: int, data: bytes) -> None:
  view = memoryview(data)
  while view:
    view = view[os.write(fd, view):]


def _read_blocking(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
  """One frame from a blocking stream; None at its end."""
  head = stream.read(_FRAME.size)
  if len(head) < _FRAME.size:
    return None
  text_bytes, payload_bytes = _FRAME.unpack(head)
  meta = json.loads(stream.read(text_bytes))
  return meta, stream.read(payload_bytes)


def process_alive(pid: int) -> bool:
  """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not; Linux /proc
  for the zombie test)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return True  # Alive, and no /proc to tell a zombie.


def rss_kb(pid: int | str = "self", field: str = "VmRSS") -> int:
  """Resident size of a process in KB, from /proc (0 if unknown); ``field="VmHWM"``: its peak."""
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1])
  except OSError:
    pass
  return 0


def _child_env() -> dict[str, str]:
  """The parent's environment; the child imports what the parent can (its sys.path)."""
  path = [p for p in sys.path if p]
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
              PYTHONPATH=os.pathsep.join(path))


def _bitstream_error(name: str) -> type[BitstreamError]:
  """The BitstreamError subclass of that name known to this process (else the base)."""
  pending: list[type[BitstreamError]] = [BitstreamError]
  while pending:
    cls = pending.pop()
    if cls.__name__ == name:
      return cls
    pending.extend(cls.__subclasses__())
  return BitstreamError


def _raise_reply(meta: dict[str, Any]) -> None:
  """Raises the error a worker reply carries, if any."""
  if "error" not in meta:
    return
  message = str(meta.get("message", ""))
  if meta.get("kind") == "bitstream":
    raise _bitstream_error(str(meta["error"]))(message)
  if meta.get("kind") == "input":
    raise WorkerInputError(message)
  raise WorkerError(f"unexpected {meta['error']} in the worker process: {message}")


class IsolatedCoder:
  """A :class:`~tfc_swin.coder.Coder` (or a video coder) in a killable child process (module
  docstring).

  ``args`` are the loader's arguments (JSON values); ``loader`` is ``"module:function"``
  returning a Coder (default :data:`LOAD_CODER`) or a VideoCoder. ``timeout`` bounds each
  decode, of an image or of a video frame (seconds, None = none), ``memory_limit_mb`` the
  child's growth during a call, ``start_timeout`` the start-up (imports and model loading).
  Calls from several threads are served one at a time.
  """

  def __init__(self, *args: Any, loader: str = LOAD_CODER, timeout: float | None = None,
               memory_limit_mb: float | None = None, start_timeout: float | None = 600.0):
    self.args, self.loader = list(args), loader
    self.timeout, self.memory_limit_mb, self.start_timeout = timeout, memory_limit_mb, start_timeout
    self.info: dict[str, str] = {}
    self.baseline_rss_kb = 0
    self._proc: subprocess.Popen | None = None
    self._lock = threading.Lock()
    self._local = threading.local()

  # -- life cycle -------------------------------------------------------------------------------
  def start(self) -> None:
    """Starts the worker and loads the model, unless a worker is running."""
    if self._proc is not None:
      return
    self._proc = subprocess.Popen(
        [sys.executable, "-c", "from tfc_swin.isolation import worker_main; worker_main()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=_child_env(), bufsize=0)
    try:
      meta, _ = self._exchange({"loader": self.loader, "args": self.args,
                                "parent": os.getpid()}, b"", self.start_timeout,
                               "starting the worker")
    except BaseException:
      self.close()  # A worker whose model did not load is of no use.
      raise
    self.info = {k: str(meta[k]) for k in ("name", "config", "fingerprint", "description")}
    self.baseline_rss_kb = rss_kb(self._proc.pid)

  def close(self) -> None:
    """Stops the worker (a later call starts a new one)."""
    if self._proc is not None:
      if self._proc.poll() is None:
        self._proc.kill()  # Our own child, by its handle.
      self._proc.wait()
      for pipe in (self._proc.stdin, self._proc.stdout):
        pipe.close()
      self._proc = None

  def __enter__(self) -> "IsolatedCoder":
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  @property
  def pid(self) -> int | None:
    """Process id of the running worker, if any."""
    return None if self._proc is None else self._proc.pid

  @property
  def name(self) -> str:
    """The model name the worker's coder writes into files (after :meth:`start`)."""
    return self.info.get("name", "")

  @property
  def timings(self) -> dict[str, float]:
    """Per-stage seconds of this thread's last call, as the worker measured them."""
    return getattr(self._local, "timings", {})

  # -- calls ------------------------------------------------------------------------------------
  def compress_array(self, rgb: np.ndarray, color_mode: str = "RGB",
                     alpha: np.ndarray | None = None,
                     max_pixels: int | None = DEFAULT_MAX_PIXELS,
                     tile_side: int | None = None) -> bytes:
    """:meth:`Coder.compress_array <tfc_swin.coder.Coder.compress_array>` in the worker (no
    time limit)."""
    rgb = np.ascontiguousarray(rgb)
    meta = {"op": "compress", "dtype": rgb.dtype.str, "shape": list(rgb.shape),
            "color_mode": color_mode, "alpha": alpha is not None, "max_pixels": max_pixels,
            "tile_side": tile_side}
    payload = rgb.tobytes() + (np.ascontiguousarray(alpha, np.uint8).tobytes()
                               if alpha is not None else b"")
    _, data = self._call(meta, payload, None, "compressing")
    return data

  def decompress_array(self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS
                       ) -> tuple[np.ndarray, Header, np.ndarray | None]:
    """:meth:`Coder.decompress_array <tfc_swin.coder.Coder.decompress_array>` in the worker,
    within ``timeout`` seconds (else :class:`DecodeTimeoutError`)."""
    meta, body = self._call({"op": "decompress", "max_pixels": max_pixels}, bytes(data),
                            self.timeout, "decoding")
    fields = meta["header"]
    header = Header(**{**fields, "tile_checksums": tuple(map(tuple, fields["tile_checksums"]))})
    rgb_bytes = header.pixels * 3
    alpha_bytes = header.pixels if meta["alpha"] else 0
    if len(body) != rgb_bytes + alpha_bytes:
      raise WorkerError(f"malformed worker reply: {len(body)} bytes for a "
                        f"{header.width}x{header.height} image")
    rgb = np.frombuffer(body, np.uint8, rgb_bytes).reshape(header.height, header.width, 3)
    alpha = (np.frombuffer(body, np.uint8, alpha_bytes, rgb_bytes).reshape(header.height,
                                                                           header.width)
             if alpha_bytes else None)
    return rgb, header, alpha

  def decompress_video(self, path: str, progress: Callable[[FrameStats], None] | None = None,
                       max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
    """:meth:`VideoCoder.decompress <tfc_swin.video.coder.VideoCoder.decompress>` in the
    worker: the decoded uint8 (H, W, 3) frames of a video file, streamed one at a time, each
    within ``timeout`` seconds (else :class:`DecodeTimeoutError`); ``progress`` gets each
    frame's stats before the frame.

    The worker's header checks (model, pixel limit) raise here, before this returns. The
    worker runs at most one frame ahead (the pipe between the two holds it back), so memory
    stays at a few frames. Until the frames are exhausted or the iterator is closed, the coder
    serves no other call; closing it early stops the worker.
    """
    stream = self._video_stream(os.path.abspath(path), progress, max_pixels)
    next(stream)  # Up to the worker's acknowledgement (its header checks).
    return stream

  def _video_stream(self, path: str, progress: Callable[[FrameStats], None] | None,
                    max_pixels: int | None) -> Iterator[np.ndarray | None]:
    """The generator of :meth:`decompress_video`; yields None first, once the worker has
    accepted the file."""
    with self._lock:
      self.start()
      self._exchange({"op": "decompress_video", "path": path, "max_pixels": max_pixels}, b"",
                     self.timeout, "decoding frame 1")
      ended = False  # Whether the worker ended the stream (an end marker or an error).
      try:
        yield None
        for index in itertools.count():
          reply, body = self._receive(self.timeout, f"decoding frame {index + 1}")
          ended = "error" in reply or bool(reply.get("end"))
          _raise_reply(reply)
          if ended:
            return
          stats, rgb = _video_frame(reply, body)
          if progress is not None:
            progress(stats)
          yield rgb
      finally:
        if not ended:  # Given up mid-stream: the worker's remaining replies are of no use.
          self.close()

  def _call(self, meta: dict[str, Any], payload: bytes, timeout: float | None, what: str
            ) -> tuple[dict[str, Any], bytes]:
    with self._lock:
      self.start()
      reply, body = self._exchange(meta, payload, timeout, what)
    self._local.timings = reply.get("timings", {})
    return reply, body

  def _exchange(self, meta: dict[str, Any], payload: bytes, timeout: float | None, what: str
                ) -> tuple[dict[str, Any], bytes]:
    """Sends one request and waits for its reply; kills the worker on any failure."""
    assert self._proc is not None
    try:
      _write_all(self._proc.stdin.fileno(), _frame(meta, payload))
    except BrokenPipeError:
      raise self._crashed(what) from None
    reply, body = self._receive(timeout, what)
    _raise_reply(reply)
    return reply, body

  def _receive(self, timeout: float | None, what: str) -> tuple[dict[str, Any], bytes]:
    """The worker's next reply, within ``timeout`` seconds; kills the worker on any failure."""
    deadline = None if timeout is None else time.monotonic() + timeout
    text_bytes, payload_bytes = _FRAME.unpack(self._read(_FRAME.size, deadline, timeout, what))
    reply = json.loads(self._read(text_bytes, deadline, timeout, what))
    return reply, self._read(payload_bytes, deadline, timeout, what)

  def _read(self, n: int, deadline: float | None, timeout: float | None, what: str) -> bytes:
    """n bytes from the worker, watching its deadline, liveness and memory meanwhile."""
    assert self._proc is not None
    fd, chunks, left = self._proc.stdout.fileno(), [], n
    while left:
      if select.select([fd], [], [], _POLL_SECONDS)[0]:
        chunk = os.read(fd, min(left, _READ_CHUNK))
        if not chunk:
          raise self._crashed(what)
        chunks.append(chunk)
        left -= len(chunk)
      elif self._proc.poll() is not None:
        raise self._crashed(what)
      elif self._over_memory():
        self.close()
        raise MemoryLimitError(f"{what} used more than {self.memory_limit_mb:g} MB of memory "
                               "above the worker's size after loading the model; the worker "
                               "was stopped")
      elif deadline is not None and time.monotonic() > deadline:
        self.close()
        raise self._timed_out(what, timeout)
    return b"".join(chunks)

  def _over_memory(self) -> bool:
    if not self.memory_limit_mb or not self.baseline_rss_kb:
      return False
    return rss_kb(self._proc.pid) > self.baseline_rss_kb + 1024 * self.memory_limit_mb

  def _crashed(self, what: str) -> WorkerCrashError:
    """Stops the dead worker; the error naming how it ended."""
    try:
      status = self._proc.wait(1.0) if self._proc is not None else None
    except subprocess.TimeoutExpired:
      status = None
    self.close()
    cause = ("it closed its output" if status is None
             else f"signal {-status}, {signal.strsignal(-status)}" if status < 0
             else f"exit status {status}")
    return WorkerCrashError(f"the worker process died while {what} ({cause}): the input may "
                            "be crafted to crash TensorFlow Compression, or the system ran "
                            "out of memory")

  @staticmethod
  def _timed_out(what: str, timeout: float) -> Exception:
    if what.startswith("decoding"):
      return DecodeTimeoutError(
          f"{what} did not finish within {timeout:g} s: the file is probably crafted (TFC's "
          "range decoder can loop forever on such data); the decoder process was stopped")
    return WorkerError(f"{what} did not finish within {timeout:g} s; the worker was stopped")


def _video_frame(reply: dict[str, Any], body: bytes) -> tuple[FrameStats, np.ndarray]:
  """A frame reply of ``decompress_video``: its stats and the uint8 (H, W, 3) frame."""
  try:
    stats = FrameStats(**reply["stats"])
    height, width = (int(n) for n in reply["shape"])
  except (KeyError, TypeError, ValueError):
    raise WorkerError("malformed worker reply: not a video frame") from None
  if height < 1 or width < 1 or len(body) != height * width * 3:
    raise WorkerError(f"malformed worker reply: {len(body)} bytes for a {width}x{height} frame")
  return stats, np.frombuffer(body, np.uint8).reshape(height, width, 3)


_shared: dict[str, Any] = {}
_shared_lock = threading.Lock()


def shared_coder(*args: Any, loader: str = LOAD_CODER, timeout: float | None = None
                 ) -> IsolatedCoder:
  """An :class:`IsolatedCoder` kept for the next call with the same loader and arguments,
  working directory and zoo (``$TFC_SWIN_ZOO``), as :func:`tfc_swin.api.load_coder` keeps
  loaded models; one at a time (another request closes the previous worker). For callers that
  run many times in one process, such as ``tfc_swin.cli.main``."""
  key = json.dumps([loader, args, os.getcwd(), sys.path, os.environ.get(ZOO_ENV)])
  with _shared_lock:
    if _shared.get("key") != key:
      close_shared()
      _shared.update(key=key, coder=IsolatedCoder(*args, loader=loader))
    _shared["coder"].timeout = timeout
    return _shared["coder"]


@atexit.register
def close_shared() -> None:
  """Stops the worker of :func:`shared_coder`, if any."""
  coder = _shared.pop("coder", None)
  _shared.pop("key", None)
  if coder is not None:
    coder.close()


# -- the worker (child) side -----------------------------------------------------------------------
def _exit_with_parent(parent: int) -> None:
  """Ends this process when its parent is gone (also while an op runs: TF ops release the
  GIL)."""
  def watch() -> None:
    while os.getppid() == parent:
      time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)  # pylint: disable=protected-access
  threading.Thread(target=watch, daemon=True).start()


def _load(loader: str, args: list[Any]) -> Any:
  module, _, function = loader.partition(":")
  return getattr(importlib.import_module(module), function)(*args)


def _error(e: Exception) -> dict[str, Any]:
  """The reply for an exception in the worker."""
  if isinstance(e, BitstreamError):
    kind, message = "bitstream", str(e)
  elif isinstance(e, (ValueError, OSError)):
    kind, message = "input", str(e)
  else:
    kind, message = "bug", traceback.format_exc()
  return {"error": type(e).__name__, "kind": kind, "message": message}


def _replies(coder: Any, meta: dict[str, Any], payload: bytes
             ) -> Iterator[tuple[dict[str, Any], bytes]]:
  """Runs one request on the worker's coder: its reply, or for ``decompress_video`` an
  acknowledgement once the header is checked, one reply per frame and an end marker."""
  if meta["op"] == "decompress_video":
    stats: list[FrameStats] = []
    frames = coder.decompress(meta["path"], stats.append, max_pixels=meta["max_pixels"])
    yield {"started": True}, b""
    for rgb in frames:
      yield ({"stats": dataclasses.asdict(stats.pop()), "shape": list(rgb.shape[:2])},
             np.ascontiguousarray(rgb, np.uint8).tobytes())
    yield {"end": True}, b""
    return
  if meta["op"] == "decompress":
    rgb, header, alpha = coder.decompress_array(payload, max_pixels=meta["max_pixels"])
    body = rgb.tobytes() + (alpha.tobytes() if alpha is not None else b"")
    yield ({"header": dataclasses.asdict(header), "alpha": alpha is not None,
            "timings": coder.timings}, body)
    return
  if meta["op"] != "compress":
    raise ValueError(f"unknown request {meta['op']!r}")
  dtype, shape = np.dtype(meta["dtype"]), tuple(meta["shape"])
  size = int(np.prod(shape)) * dtype.itemsize
  rgb = np.frombuffer(payload, dtype, count=size // dtype.itemsize).reshape(shape)
  alpha = (np.frombuffer(payload, np.uint8, offset=size).reshape(shape[:2])
           if meta["alpha"] else None)
  data = coder.compress_array(rgb, meta["color_mode"], alpha, max_pixels=meta["max_pixels"],
                              tile_side=meta["tile_side"])
  yield {"timings": coder.timings}, data


def worker_main() -> None:
  """The worker's loop (started by :class:`IsolatedCoder`): loads the coder, then answers
  requests on stdin until it closes."""
  out = os.dup(1)
  os.dup2(2, 1)  # Prints of model code must not reach the channel.
  requests = sys.stdin.buffer
  init, _ = _read_blocking(requests)
  _exit_with_parent(init["parent"])
  try:
    coder = _load(init["loader"], init["args"])
  except Exception as e:  # pylint: disable=broad-except
    _write_all(out, _frame(_error(e)))
    return
  model_id = coder.model_id
  _write_all(out, _frame({"name": model_id.name, "config": model_id.config,
                          "fingerprint": model_id.fingerprint,
                          "description": coder.description}))
  while (request := _read_blocking(requests)) is not None:
    try:
      for reply, body in _replies(coder, *request):
        _write_all(out, _frame(reply, body))
    except Exception as e:  # pylint: disable=broad-except
      _write_all(out, _frame(_error(e)))  # Also ends a stream of frames.
