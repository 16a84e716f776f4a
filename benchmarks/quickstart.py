"""The quick start's main job, measured: README's figures about it are written by this script.

Runs README's first command, ``codesign explore --hw hw_models/mpic.yaml`` (the default
workload, mnist1d_cnn on MPIC), cold: in a fresh, empty results folder, so it trains the
full-precision model and the supernet. It measures the wall time and the peak memory of the
process, reads the run's front back, and writes one paragraph between README's
``<!-- quickstart:begin -->`` and ``<!-- quickstart:end -->`` markers and the same figures
into docs/benchmarks/quickstart.md. tests/test_docs.py checks that README's paragraph is this
script's rendering (never typed by hand).

Reproduce:  python benchmarks/quickstart.py
(extra arguments after ``--`` go to ``codesign explore``; the doc test runs it tiny)
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from _common import ROOT, command, commit, machine, parse, write_doc_page

EXPLORE = ["codesign", "explore", "--hw", "hw_models/mpic.yaml"]  # README's first command
BEGIN, END = "<!-- quickstart:begin -->", "<!-- quickstart:end -->"


@dataclass(frozen=True)
class Figures:
    """What README says about the cold main job."""

    when: str  # ISO date
    commit: str
    machine: str
    wall_s: float
    peak_mb: float
    fp_accuracy: float
    estimator: str
    evaluated: int
    points: int
    finetuned: int
    low_acc: float  # the least accurate fine-tuned point: accuracy %, latency ms
    low_ms: float
    high_acc: float  # the most accurate one
    high_ms: float


def _duration(s: float) -> str:
    m, sec = divmod(round(s), 60)
    return f"{m} min {sec:02d} s" if m else f"{sec} s"


def render(f: Figures) -> str:
    """README's paragraph for `f`, between the markers."""
    return (
        f"{BEGIN}\n"
        f"Measured on {f.when} (commit `{f.commit}`; {f.machine}) by "
        f"`python benchmarks/quickstart.py`: the cold run, with an empty `results/`, took "
        f"{_duration(f.wall_s)} ({f.peak_mb:,.0f} MB peak). It trained the full-precision "
        f"model ({f.fp_accuracy:.2f} % on held-out data), evaluated "
        f"{f.evaluated:,} candidates scored by the {f.estimator} estimator, kept {f.points:,} "
        "Pareto points and fine-tuned "
        f"{f.finetuned}: from {f.low_acc:.2f} % at {f.low_ms:.3f} ms to {f.high_acc:.2f} % at "
        f"{f.high_ms:.3f} ms.\n"
        f"{END}"
    )


_PATTERN = re.compile(
    r"Measured on (?P<when>\S+) \(commit `(?P<commit>[^`]+)`; (?P<machine>.+?)\) by "
    r"`python benchmarks/quickstart.py`: the cold run, with an empty `results/`, took "
    r"(?P<dur>(?:\d+ min )?\d+ s) \((?P<peak_mb>[\d,]+) MB peak\)\. It trained the "
    r"full-precision model \((?P<fp>[\d.]+) % on held-out data\), evaluated "
    r"(?P<evaluated>[\d,]+) candidates scored by the (?P<est>\w+) estimator, kept "
    r"(?P<points>[\d,]+) Pareto points and fine-tuned "
    r"(?P<ft>\d+): from (?P<la>[\d.]+) % at (?P<lm>[\d.]+) ms to (?P<ha>[\d.]+) % at "
    r"(?P<hm>[\d.]+) ms\."
)


def read(text: str) -> Figures | None:
    """The figures of the paragraph between the markers in `text` (None when absent or not
    this script's wording)."""
    if BEGIN not in text or END not in text:
        return None
    body = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    m = _PATTERN.fullmatch(" ".join(body.split()))
    if m is None:
        return None
    mins, _, secs = m["dur"].rpartition(" min ")
    return Figures(
        when=m["when"],
        commit=m["commit"],
        machine=m["machine"],
        wall_s=60 * int(mins or 0) + int(secs.split()[0]),
        peak_mb=float(m["peak_mb"].replace(",", "")),
        fp_accuracy=float(m["fp"]),
        estimator=m["est"],
        evaluated=int(m["evaluated"].replace(",", "")),
        points=int(m["points"].replace(",", "")),
        finetuned=int(m["ft"]),
        low_acc=float(m["la"]),
        low_ms=float(m["lm"]),
        high_acc=float(m["ha"]),
        high_ms=float(m["hm"]),
    )


def measure(extra: list[str]) -> Figures:
    """Run the main job cold (fresh results folder) and read its figures."""
    from codesign.run import open_run

    at = commit()  # what runs, taken before it runs
    with tempfile.TemporaryDirectory(prefix="codesign-quickstart-") as tmp:
        out = Path(tmp) / "run"
        cmd = [*EXPLORE, "--results-dir", str(Path(tmp) / "results"), "--out", str(out), *extra]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rd = open_run(out)
        front = rd.load_front()
        estimator = rd.read_info().get("estimator", "no")
    tuned = [c for c in front.candidates if c.finetuned_accuracy is not None]
    if not tuned or front.fp_accuracy is None:
        raise SystemExit("the run fine-tuned no point: nothing to state")
    lo = min(tuned, key=lambda c: c.finetuned_accuracy)
    hi = max(tuned, key=lambda c: c.finetuned_accuracy)
    return Figures(
        when=date.today().isoformat(),
        commit=at,
        machine=machine(),
        wall_s=wall,
        peak_mb=peak_mb,
        fp_accuracy=front.fp_accuracy,
        estimator=estimator,
        evaluated=front.evaluated,
        points=len(front),
        finetuned=len(tuned),
        low_acc=lo.finetuned_accuracy,
        low_ms=lo.latency_ms,
        high_acc=hi.finetuned_accuracy,
        high_ms=hi.latency_ms,
    )


def write_readme(readme: Path, f: Figures) -> None:
    """Replace the paragraph between README's markers with `f`'s."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    readme.write_text(head + render(f) + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> None:
    """Measure the main job, print its figures, write them into README and the docs page."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", default=str(ROOT / "README.md"), help="the README to update")
    ap.add_argument("extra", nargs="*", help="more `codesign explore` arguments (after --)")
    args, argv = parse(ap, argv)
    f = measure(args.extra)
    paragraph = render(f)
    print(paragraph)
    write_readme(Path(args.readme), f)
    reproduce = command("quickstart.py", argv)
    body = paragraph.removeprefix(BEGIN).removesuffix(END).strip()
    path = write_doc_page("quickstart", body, reproduce=reproduce)
    print(f"wrote {args.readme}" + (f" and {path}" if path else ""))


if __name__ == "__main__":
    sys.exit(main())
