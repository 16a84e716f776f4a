"""The command line: --help everywhere, workloads --json, one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from codesign.cli import main

from .conftest import MPIC


@pytest.mark.parametrize("cmd", [[], ["explore"], ["workloads"], ["export"], ["report"]])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as info:
        main([*cmd, "--help"])
    assert info.value.code == 0
    assert "usage: codesign" in capsys.readouterr().out


def test_workloads_json(capsys):
    assert main(["workloads", "--macs", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["resnet8"]["macs"] == 12_501_632 and rows["resnet8"]["weights"] == 77_360
    assert rows["dscnn"]["macs"] == 2_656_768 and rows["mobilenet_v1_025"]["weights"] == 208_112
    assert rows["autoencoder"]["weights"] == 264_192
    assert rows["digits_cnn"]["dataset"] == "digits"


def test_bad_hardware_file_is_one_line_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MPIC.read_text().replace("power_mw: 5.38", "power_mw: 5.38\npower_mw: 6"))
    proc = subprocess.run(
        [sys.executable, "-m", "codesign.cli", "explore", "--hw", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.yaml" in proc.stderr and "duplicate key 'power_mw'" in proc.stderr


def test_export_cli(small_run, tmp_path, capsys):
    out = tmp_path / "cfg.yaml"
    assert main(["export", str(small_run.run_dir), "--pick", "0", "-o", str(out)]) == 0
    assert out.exists() and "codesign.quant-config" in out.read_text()
    assert main(["export", str(small_run.run_dir), "--pick", "99"]) == 2
    assert "--pick 99" in capsys.readouterr().err
