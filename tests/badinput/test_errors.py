"""Class 3: one clear error, never a traceback, for every malformed input of the corpus."""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import pytest

from codesign.cli import main
from codesign.core.errors import CodesignError, RunError

from ..conftest import MPIC

CORPUS = Path(__file__).parent / "corpus"


def _one_error(capsys, argv: list[str], match: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: "), err
    assert match in " ".join(err.split()), err  # rich wraps long lines
    return err


@pytest.mark.parametrize(
    "name, match",
    [
        ("objectives-int.yaml", "field 'objectives': expected names"),
        ("objectives-ints.yaml", "field 'objectives': expected an objective's name, got 1"),
        ("scheduler-banana.yaml", "field 'scheduler': expected a Dask scheduler address"),
        ("input-shape-zero.yaml", "every dimension must be at least 1"),
        ("input-shape-negative.yaml", "every dimension must be at least 1"),
        ("input-shape-rank.yaml", "give the batch and 1 to 5 more dimensions"),
        ("input-shape-huge.yaml", "more than the 268,435,456 codesign traces"),
    ],
)
def test_a_malformed_config_file_is_one_error_naming_file_and_field(capsys, name, match):
    err = _one_error(capsys, ["explore", "--config", str(CORPUS / name)], match)
    assert name in " ".join(err.split())


def test_scheduler_banana_as_a_flag(capsys):
    _one_error(capsys, ["explore", "--scheduler", "banana"], "expected a Dask scheduler address")


def test_a_model_that_fails_on_its_input_shape_is_one_error_without_fx_traceback(capfd):
    import torch

    from codesign.workload import extract

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
    with pytest.raises(CodesignError, match=r"shape \(1, 1, 8\) failed: RuntimeError"):
        extract(model, torch.zeros(1, 1, 8))
    assert "Traceback" not in capfd.readouterr().err  # torch.fx's own print is swallowed


def test_a_front_lacking_cost_is_one_error(capsys, run_copy):
    doc = json.loads((run_copy / "pareto.json").read_text())
    del doc["candidates"][0]["cost"]
    (run_copy / "pareto.json").write_text(json.dumps(doc))
    _one_error(capsys, ["report", str(run_copy)], "candidate 0: missing field 'cost'")


def test_a_corrupt_eval_cache_is_set_aside_and_started_anew(tmp_path):
    from codesign.cache import EvalCache

    db = tmp_path / "evals.sqlite"
    db.write_bytes(b"this is not a database, it is a truncated download" * 40)
    with pytest.warns(RuntimeWarning, match="corrupt evaluation cache"):
        cache = EvalCache(db)
    assert len(cache) == 0 and cache.get("k") is None
    cache.close()
    assert [p.name.split("-")[0] for p in tmp_path.glob("evals.sqlite.corrupt-*")] == [
        "evals.sqlite.corrupt"
    ]
    sqlite3.connect(db).execute("SELECT COUNT(*) FROM evals")  # a real database now


def test_a_truncated_cached_mapping_is_reported_set_aside_and_mapped_again(tmp_path, graphs):
    from codesign.hw import load_hardware
    from codesign.mapping import mapper
    from codesign.mapping.mapper import map_layer

    from ..conftest import ROOT

    hw = load_hardware(ROOT / "hw_models" / "eyeriss.yaml")
    spec = graphs("digits_cnn").quantizable[0]
    settings = mapper.MapperSettings(samples=20, refine_rounds=0)
    first = map_layer(spec, hw, settings, tmp_path)
    (npz,) = (tmp_path / "mappings").glob("*.npz")
    npz.write_bytes(npz.read_bytes()[:100])
    mapper._LRU.clear()
    with pytest.warns(RuntimeWarning, match="unreadable cached mapping"):
        again = map_layer(spec, hw, settings, tmp_path)
    assert (again.energy_pj == first.energy_pj).all()
    assert npz.exists() and npz.with_name(npz.name + ".corrupt").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recomputed file reads back cleanly
        mapper._LRU.clear()
        map_layer(spec, hw, settings, tmp_path)


def test_a_truncated_artefact_is_one_error_and_set_aside(tmp_path):
    import io

    import torch

    from codesign.quant.evaluate import load_artefact

    key = "cd" * 32
    buf = io.BytesIO()
    torch.save({"format": "codesign.finetuned", "state": {"w": torch.zeros(100)}}, buf)
    (tmp_path / f"{key}.pt").write_bytes(buf.getvalue()[:300])
    with pytest.raises(RunError, match="unreadable fine-tuned model.*run the same"):
        load_artefact(tmp_path, key)
    assert load_artefact(tmp_path, key) is None  # set aside: the next run fine-tunes it again


def test_export_into_a_missing_folder_creates_it(capsys, run_copy, tmp_path):
    out = tmp_path / "not" / "yet" / "point.yaml"
    assert main(["export", str(run_copy), "--pick", "0", "-o", str(out)]) == 0
    assert out.exists() and "layers" in out.read_text()


def test_square_brackets_in_an_error_reach_the_user(capsys, monkeypatch):
    import codesign.cli as cli

    def fail(args, console):
        raise CodesignError("needs onnx: pip install 'codesign[onnx]' [sic]")

    monkeypatch.setattr(cli, "_cmd_runs", fail)
    _one_error(capsys, ["runs"], "pip install 'codesign[onnx]' [sic]")


def test_an_unknown_hardware_file_from_the_cli(capsys):
    _one_error(capsys, ["explore", "--hw", str(MPIC.with_name("nope.yaml"))], "no such")
