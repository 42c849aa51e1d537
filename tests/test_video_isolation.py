"""Video decoding in the killable worker process (IsolatedCoder.decompress_video and
``tfc-swin video decompress``): frames stream, a hanging frame is killed at its deadline.

A fake video coder (defined here; the worker imports this module by name, as test_isolation.py's
worker imports ``helpers``) decodes real ``.tfsv`` files whose strings say what to do:
``b"hang"`` sleeps, ``b"crash"`` aborts, ``b"corrupt"`` raises a CorruptVideoError; any other
frame ``i`` decodes to a frame filled with ``i``. No TensorFlow anywhere.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tfc_swin import cli
from tfc_swin.bitstream import TooLargeError, check_pixel_limit
from tfc_swin.isolation import (DecodeTimeoutError, IsolatedCoder, WorkerCrashError,
                                close_shared, process_alive)
from tfc_swin.video import bitstream as vb

LOADER = "test_video_isolation:fake_video_coder"
CLI_LOADER = "test_video_isolation:fake_cli_video_coder"
FINGERPRINT = "0123456789abcdef"


class FakeVideoCoder:
  """What the worker needs of a VideoCoder: ``model_id``, ``description``, ``decompress``."""

  def __init__(self, log: str | None = None):
    self.model_id = SimpleNamespace(name="fake-video/1/q1", config="fake", fingerprint=FINGERPRINT)
    self.description, self.log = "fake video coder", log

  def decompress(self, path, progress=None, max_pixels=None):
    file = open(path, "rb")
    reader = vb.VideoReader(file)
    check_pixel_limit(reader.header.height, reader.header.width, max_pixels)
    return self._frames(file, reader, progress)

  def _frames(self, file, reader, progress):
    h = reader.header
    with file:
      for index, frame in enumerate(reader):
        if frame.strings[0] == b"hang":
          time.sleep(3600)
        elif frame.strings[0] == b"crash":
          os.abort()
        elif frame.strings[0] == b"corrupt":
          raise vb.CorruptVideoError(f"file is corrupted (frame {index}: fake)")
        if self.log:  # How far the worker got (tests of back-pressure).
          with open(self.log, "a") as f:
            f.write(f"{index}\n")
        if progress is not None:
          progress(vb.FrameStats(index, frame.frame_type, frame.num_bytes, 0.0,
                                 frame.index_checksum))
        yield np.full((h.height, h.width, 3), index, np.uint8)


def fake_video_coder(log: str | None = None) -> FakeVideoCoder:
  return FakeVideoCoder(log)


def fake_cli_video_coder(model, quality, version, header_model, header_config) -> FakeVideoCoder:
  """The fake in place of :func:`tfc_swin.cli.video_decompress_coder` (same arguments)."""
  assert (header_model, header_config) == ("fake-video/1/q1", "fake")
  return FakeVideoCoder()


def video_file(path, strings=(b"ok", b"ok", b"ok"), height=8, width=12) -> str:
  header = vb.VideoHeader("fake-video/1/q1", "fake", FINGERPRINT, height, width, 25, 12,
                          len(strings))
  frames = [vb.Frame("P" if i % 12 else "I", (s,), 7) for i, s in enumerate(strings)]
  vb.write_video(str(path), header, frames)
  return str(path)


@pytest.fixture(scope="module")
def fake():
  with IsolatedCoder(loader=LOADER, timeout=1.0) as coder:
    yield coder


def test_frames_stream_from_the_worker(fake, tmp_path):
  seen = []
  frames = list(fake.decompress_video(video_file(tmp_path / "a.tfsv"), seen.append))
  assert [f.shape for f in frames] == [(8, 12, 3)] * 3 and fake.name == "fake-video/1/q1"
  assert [int(f[0, 0, 0]) for f in frames] == [0, 1, 2]
  assert [(s.index, s.frame_type, s.index_checksum) for s in seen] == [
      (0, "I", 7), (1, "P", 7), (2, "P", 7)]
  assert all(s.num_bytes > 0 for s in seen) and fake.pid != os.getpid() and process_alive(fake.pid)


def test_a_hanging_frame_is_killed_at_its_deadline(fake, tmp_path):
  path = video_file(tmp_path / "hang.tfsv", (b"ok", b"ok", b"hang", b"ok"))
  fake.start()
  pid, frames = fake.pid, []
  t0 = time.monotonic()
  with pytest.raises(DecodeTimeoutError) as info:
    for frame in fake.decompress_video(path):
      frames.append(frame)
  assert 1.0 <= time.monotonic() - t0 < 3.0 and len(frames) == 2  # A deadline per frame.
  message = str(info.value)
  assert "\n" not in message and message.startswith("decoding frame 3 did not finish within 1 s")
  assert fake.pid is None and not process_alive(pid)
  assert len(list(fake.decompress_video(video_file(tmp_path / "ok.tfsv")))) == 3  # Restarted.


def test_errors_end_the_stream_but_keep_the_worker(fake, tmp_path):
  path = video_file(tmp_path / "bad.tfsv", (b"ok", b"corrupt", b"ok"))
  fake.start()
  pid, frames = fake.pid, []
  with pytest.raises(vb.CorruptVideoError, match=r"^file is corrupted \(frame 1: fake\)$"):
    for frame in fake.decompress_video(path):
      frames.append(frame)
  assert len(frames) == 1 and fake.pid == pid
  with pytest.raises(TooLargeError):  # The worker's header checks raise before any frame.
    fake.decompress_video(path, max_pixels=10)
  with pytest.raises(WorkerCrashError, match="died while decoding frame 2 .signal 6"):
    list(fake.decompress_video(video_file(tmp_path / "crash.tfsv", (b"ok", b"crash"))))
  assert len(list(fake.decompress_video(video_file(tmp_path / "ok.tfsv")))) == 3


def test_closing_early_stops_the_worker(fake, tmp_path):
  stream = fake.decompress_video(video_file(tmp_path / "a.tfsv"))
  next(stream)
  pid = fake.pid
  stream.close()
  assert fake.pid is None and not process_alive(pid)
  assert len(list(fake.decompress_video(video_file(tmp_path / "b.tfsv")))) == 3


def test_the_worker_runs_at_most_a_frame_ahead(tmp_path):
  """Frames of 192 KB do not fit the pipe: the worker waits for the reader, so neither process
  holds more than a few frames."""
  log = tmp_path / "decoded.txt"
  path = video_file(tmp_path / "long.tfsv", [b"ok"] * 20, height=256, width=256)
  with IsolatedCoder(str(log), loader=LOADER, timeout=5.0) as coder:
    stream = coder.decompress_video(path)
    next(stream)
    time.sleep(1.0)
    assert len(log.read_text().split()) <= 3
    assert sum(1 for _ in stream) == 19


@pytest.fixture
def fake_cli(monkeypatch):
  monkeypatch.setattr(cli, "VIDEO_DECOMPRESS_LOADER", CLI_LOADER)
  yield
  close_shared()


def test_cli_kills_a_hanging_frame_with_one_line(fake_cli, tmp_path, capsys):
  path = video_file(tmp_path / "hang.tfsv", (b"ok", b"hang", b"ok"))
  t0 = time.monotonic()
  code = cli.main(["video", "decompress", path, str(tmp_path / "out"), "--timeout", "1"])
  assert code == 1 and time.monotonic() - t0 < 15
  err = capsys.readouterr().err.splitlines()
  assert err[0].startswith("decoded frame 1/3: I") and len(err) == 2
  assert err[1].startswith("tfc-swin: error: decoding frame 2 did not finish within 1 s: the "
                           "file is probably crafted")
  assert sorted(os.listdir(tmp_path / "out")) == ["f001.png"]  # Frames before it stay.
  assert cli.main(["video", "decompress", path, str(tmp_path / "o.yuv"), "--timeout", "1"]) == 1
  assert not (tmp_path / "o.yuv").exists()  # Atomic: no partial file.


def test_cli_decodes_through_the_worker(fake_cli, tmp_path, capsys):
  path = video_file(tmp_path / "a.tfsv")
  assert cli.main(["video", "decompress", path, str(tmp_path / "out")]) == 0
  out = capsys.readouterr()
  assert "3 frames of 12x8 (fake-video/1/q1)" in out.out
  assert out.err.count("decoded frame") == 3
  assert (np.asarray(Image.open(tmp_path / "out" / "f003.png")) == 2).all()


def test_cli_video_decompress_does_not_import_tensorflow(tmp_path):
  """The parent only parses the header and writes frames; the model lives in the worker."""
  path = video_file(tmp_path / "a.tfsv")
  script = ("import sys; sys.path.insert(0, %r)\n"
            "from tfc_swin import cli\n"
            "cli.VIDEO_DECOMPRESS_LOADER = %r\n"
            "code = cli.main(['video', 'decompress', %r, %r])\n"
            "print(code, 'tensorflow' in sys.modules)\n"
            % (os.path.dirname(__file__), CLI_LOADER, path, str(tmp_path / "out")))
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        timeout=120, check=False)
  assert proc.stdout.split()[-2:] == ["0", "False"], proc.stderr
