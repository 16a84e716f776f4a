"""Each fine-tune keeps its quantized model under its cache key; reloaded, it scores the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesign.data import load_dataset
from codesign.quant.evaluate import load_artefact, load_finetuned
from codesign.quant.train import evaluate


def test_the_fronts_fine_tuned_models_are_kept_and_reload_to_the_same_accuracy(
    small_run, results_dir
):
    tuned = [c for c in small_run.front.candidates if c.finetuned_accuracy is not None]
    assert tuned
    test = load_dataset("digits").test
    for c in tuned:
        doc = load_artefact(Path(results_dir) / "cache" / "artefacts", c.finetuned.key)
        assert doc is not None and doc["key"] == c.finetuned.key
        assert [la["name"] for la in doc["config"]["layers"]] == list(small_run.front.layers)
        assert evaluate(load_finetuned(doc), test) == pytest.approx(c.finetuned_accuracy, abs=1e-9)


def test_a_cached_result_without_a_kept_model_is_fine_tuned_once_more(
    small_run, results_dir, run_explore
):
    """A cache entry from before models were kept is recomputed (same result), not exported
    without a model."""
    from tests.conftest import SMALL_RUN

    c = next(c for c in small_run.front.candidates if c.finetuned_accuracy is not None)
    path = Path(results_dir) / "cache" / "artefacts" / f"{c.finetuned.key}.pt"
    path.unlink()
    again = run_explore(**SMALL_RUN, out=results_dir / "small-artefact")
    assert path.exists()
    same = next(a for a in again.front.candidates if a.id == c.id)
    assert same.finetuned_accuracy == pytest.approx(c.finetuned_accuracy, abs=1e-9)
