"""The killable worker process (tfc_swin.isolation): deadlines, crashes, memory, errors.

Most tests run a fake coder (``helpers.fake_coder``, no TensorFlow in the worker) so that a
hang, a crash or a memory blow-up can be made on demand.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tfc_swin.bitstream import BitstreamError, CorruptFileError, TooLargeError
from tfc_swin.isolation import (DecodeTimeoutError, IsolatedCoder, MemoryLimitError,
                                WorkerCrashError, WorkerError, WorkerInputError, close_shared,
                                process_alive, rss_kb, shared_coder)
from helpers import smooth_image

FAKE = "helpers:fake_coder"


@pytest.fixture(scope="module")
def fake():
  with IsolatedCoder(loader=FAKE, timeout=1.0) as coder:
    yield coder


def test_calls_go_through_the_worker(fake):
  rgb, header, alpha = fake.decompress_array(b"ok")
  assert rgb.shape == (2, 3, 3) and (rgb == 7).all() and (alpha == 9).all()
  assert (header.width, header.height, header.color_mode) == (3, 2, "RGBA")
  assert fake.timings == {"decode_model": 0.0} and fake.name == "fake/1/q1"
  data = fake.compress_array(np.zeros((4, 5, 3), np.uint8), "RGBA", np.full((4, 5), 1, np.uint8))
  assert data == b"ok\x04\x05" + bytes([1] * 20) and fake.timings == {"encode_model": 0.0}
  assert fake.pid != os.getpid() and process_alive(fake.pid)


def test_a_hang_is_killed_at_the_deadline_and_the_next_call_restarts(fake):
  fake.start()
  pid = fake.pid
  t0 = time.monotonic()
  with pytest.raises(DecodeTimeoutError) as info:
    fake.decompress_array(b"hang")
  assert 1.0 <= time.monotonic() - t0 < 3.0
  message = str(info.value)
  assert "\n" not in message and message.startswith("decoding did not finish within 1 s")
  assert isinstance(info.value, BitstreamError) and fake.pid is None and not process_alive(pid)
  assert fake.decompress_array(b"ok")[0].shape == (2, 3, 3) and fake.pid != pid


def test_a_crash_is_named(fake):
  with pytest.raises(WorkerCrashError, match="died while decoding .signal 6"):
    fake.decompress_array(b"crash")
  assert fake.decompress_array(b"ok")[1].width == 3


def test_errors_keep_their_class():
  with IsolatedCoder(loader=FAKE) as coder:
    with pytest.raises(CorruptFileError, match=r"^file is corrupted \(fake\)$"):
      coder.decompress_array(b"corrupt")
    with pytest.raises(WorkerError, match="KeyError: 'fake bug'"):
      coder.decompress_array(b"bug")
    pid = coder.pid
    assert coder.decompress_array(b"ok") and coder.pid == pid  # Errors keep the worker.
  with pytest.raises(WorkerInputError, match="^unknown model 'fake'$"):
    IsolatedCoder(0, True, loader=FAKE).start()


def test_memory_limit():
  with IsolatedCoder(300, loader=FAKE, memory_limit_mb=100) as coder:
    with pytest.raises(MemoryLimitError, match="more than 100 MB") as info:
      coder.decompress_array(b"memory")
    assert isinstance(info.value, TooLargeError) and coder.pid is None


def test_the_worker_dies_with_its_parent(tmp_path):
  """kill -9 of the parent while its worker hangs in a decode: the worker exits too."""
  script = ("import sys; sys.path.insert(0, %r)\n"
            "from tfc_swin.isolation import IsolatedCoder\n"
            "coder = IsolatedCoder(loader='helpers:fake_coder'); coder.start()\n"
            "print(coder.pid, flush=True); coder.decompress_array(b'hang')\n"
            % os.path.dirname(__file__))
  parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
  worker = int(parent.stdout.readline())
  assert process_alive(worker)
  time.sleep(0.3)  # The worker is inside the hanging decode.
  os.kill(parent.pid, signal.SIGKILL)  # Our own child.
  parent.wait()
  parent.stdout.close()
  deadline = time.monotonic() + 5
  while process_alive(worker) and time.monotonic() < deadline:
    time.sleep(0.1)
  assert not process_alive(worker)


def test_shared_coder_is_reused_for_the_same_request(monkeypatch):
  coder = shared_coder(loader=FAKE, timeout=2.0)
  coder.start()
  pid = coder.pid
  again = shared_coder(loader=FAKE, timeout=3.0)
  assert again is coder and again.pid == pid and again.timeout == 3.0
  monkeypatch.setenv("TFC_SWIN_ZOO", "/elsewhere")  # The worker would load other models.
  other = shared_coder(loader=FAKE)
  assert other is not coder and coder.pid is None and not process_alive(pid)
  assert other.decompress_array(b"ok")[1].height == 2
  pid = other.pid
  close_shared()
  assert other.pid is None and not process_alive(pid)


def test_zoo_env_is_the_zoo_modules():
  from tfc_swin import isolation, zoo  # pylint: disable=import-outside-toplevel
  assert isolation.ZOO_ENV == zoo.ZOO_ENV


def test_rss_kb():
  assert rss_kb() > 1000 and rss_kb(os.getpid()) > 1000 and rss_kb(2 ** 30) == 0


@pytest.mark.slow
def test_a_real_model_gives_the_same_files_as_in_process():
  from tfc_swin.api import load_coder  # pylint: disable=import-outside-toplevel
  image = smooth_image(40, 56)
  local = load_coder("conv-hyperprior-tiny")
  with IsolatedCoder("conv-hyperprior-tiny", timeout=60) as coder:
    data = coder.compress_array(image)
    assert data == local.compress_array(image)
    rgb, header, alpha = coder.decompress_array(data)
    np.testing.assert_array_equal(rgb, local.decompress_array(data)[0])
    assert alpha is None and coder.name == header.model == local.name
    assert set(coder.timings) == {"unpack", "decode_model"}
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
      coder.decompress_array(data[:-1] + bytes([data[-1] ^ 1]))


# The 151-byte file of docs/robustness.md ("A hang in TFC's range decoder"): stress case
# `crafted 169` (random bytes in the strings, valid CRC) for swint-hyperprior-cpu v4 q2, on
# which TFC 2.14's range decoder never returns.
TFC_HANG = bytes.fromhex(
    "544653570100197377696e742d68797065727072696f722d6370752f342f7132147377696e74"
    "2d68797065727072696f722d637075027f49ce593daf6760800104bcf6a502386c5e2a2043cb"
    "6a71711d4e31e705f21e2bd1849ec1bf38f73670b692ea26b9fbc3072d92d80ecec5404a74da"
    "76fd16cf53a4ec589cf4630d14e8a2875417d3d15ecddd3ef02b4cfa46eaee772158b1519a")


@pytest.mark.slow
def test_the_real_tfc_hang_ends_with_one_line_through_the_cli(tmp_path):
  from tfc_swin import zoo  # pylint: disable=import-outside-toplevel
  if "4" not in zoo.manifest("swint-hyperprior-cpu")["versions"]:
    pytest.skip("swint-hyperprior-cpu v4 is not in the zoo")
  path = tmp_path / "hang.tfsw"
  path.write_bytes(TFC_HANG)
  t0 = time.monotonic()
  proc = subprocess.run([sys.executable, "-m", "tfc_swin", "decompress", str(path),
                         str(tmp_path / "o.png"), "--timeout", "5"], capture_output=True,
                        text=True, timeout=300, check=False,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert proc.returncode == 1 and time.monotonic() - t0 < 120
  assert proc.stderr.startswith("tfc-swin: error: decoding did not finish within 5 s")
  assert proc.stderr.count("\n") == 1 and not (tmp_path / "o.png").exists()
