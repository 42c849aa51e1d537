"""Settings of experiments/cross_platform_decode.py (no model runs: the measurement itself is in
docs/robustness.md, "Files decode on other numerics")."""
import pytest

from helpers import load_experiment

cross_platform = load_experiment("cross_platform_decode")


@pytest.mark.parametrize("setting, expected", [
    ("onednn1-t1", (True, 1, None)),
    ("onednn0-t2", (False, 2, None)),
    ("onednn1-t1-avx2", (True, 1, "AVX2")),
    ("onednn1-t2-avx512", (True, 2, "AVX512_CORE")),
    ("onednn0-t1-amx", (False, 1, "AVX512_CORE_AMX")),
    ("onednn1-t12-avx512_core_vnni", (True, 12, "AVX512_CORE_VNNI")),
    ("onednn0-t1-sse41", (False, 1, "SSE41")),
])
def test_parse_setting(setting, expected):
  parsed = cross_platform.parse_setting(setting)
  assert (parsed.onednn, parsed.threads, parsed.isa) == expected


@pytest.mark.parametrize("setting", ["onednn2-t1", "onednn1-t0", "onednn1", "onednn1-t1-avx3",
                                     "onednn1-t1-AVX2", "onednn1-t1-avx2-x", "onednn1-t1-"])
def test_parse_setting_rejects(setting):
  with pytest.raises(ValueError):
    cross_platform.parse_setting(setting)


def test_environment_sets_and_clears_the_isa_cap():
  base = {"PATH": "/bin", "ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41",
          "ONEDNN_VERBOSE": "1", "TF_ENABLE_ONEDNN_OPTS": "1"}
  native = cross_platform.environment("onednn0-t2", base)
  assert native == {"PATH": "/bin", "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
  capped = cross_platform.environment("onednn1-t1-avx2", base)
  assert capped == {"PATH": "/bin", "TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                    "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"}
  assert base["ONEDNN_MAX_CPU_ISA"] == "SSE41"  # not modified


def test_default_settings_are_valid():
  from absl import flags  # pylint: disable=import-outside-toplevel
  settings = flags.FLAGS["settings"]
  assert all(map(cross_platform._valid, settings.default))  # pylint: disable=protected-access
  assert not cross_platform._valid("onednn1-t1-avx3")  # pylint: disable=protected-access
