"""What the benchmarks share: threads, paths, the peers' virtual environments, the normalised
hypervolume, the pipeline's first stages, and printing a table with the command that
reproduces it.

A benchmark runs as ``python benchmarks/bench_x.py`` (Python puts benchmarks/ on sys.path, so
``from _common import ...`` finds this file; codesign itself is installed) and exposes
``main(argv)``, which tests/benchmarks/test_smoke.py calls at a tiny size.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console

# imported only where used, so a benchmark's subprocess that measures its own memory
# (bench_scale) loads nothing here that its work would not load anyway

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = ROOT / "results"  # where benchmarks cache what is slow to redo (git ignores it)

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def set_threads(n: int = 1) -> None:
    """Run this process on `n` threads: torch's intra-op pool and the BLAS pools numpy and
    torch loaded (threadpoolctl), and the same in the environment of every subprocess started
    from here (Dask workers, the peers' runners)."""
    import torch
    from threadpoolctl import threadpool_limits

    for var in THREAD_VARS:
        os.environ[var] = str(n)
    torch.set_num_threads(n)
    threadpool_limits(limits=n)


# --- the normalised hypervolume -------------------------------------------------------------


def front_rows(F: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """Indices of the feasible, non-dominated rows of the objective matrix `F` (every row
    feasible when `feasible` is None), in order."""
    from codesign.core.pareto import pareto_mask

    ok = np.ones(len(F), dtype=bool) if feasible is None else np.asarray(feasible, dtype=bool)
    return np.flatnonzero(pareto_mask(np.asarray(F, dtype=np.float64), ok))


def front_of(F: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """The feasible, non-dominated rows of the objective matrix `F` (`front_rows`)."""
    return np.asarray(F, dtype=np.float64)[front_rows(F, feasible)]


def archive_front(archive: Any) -> np.ndarray:
    """The objective rows of an `Archive`'s feasible non-dominated candidates."""
    return front_of(archive.objectives(), archive.feasible())


def hypervolumes(fronts: Sequence[np.ndarray], over: np.ndarray | None = None) -> list[float]:
    """Each front's hypervolume (pymoo's indicator, reference 1.1), every objective scaled to
    [0, 1] between the best and the worst value of `over` (default: all the fronts together),
    so the figures of one call compare with each other."""
    from codesign.core.pareto import hypervolume

    ref = over if over is not None else np.vstack([f for f in fronts if len(f)])
    ideal, nadir = ref.min(axis=0), ref.max(axis=0)
    return [hypervolume(f, ideal, nadir) for f in fronts]


# --- the pipeline's first stages --------------------------------------------------------------


def add_pipeline_args(
    ap: Any, results_dir: str = "results", supernet: bool = True, finetune: bool = True
) -> None:
    """The options of the base model (and of the supernet and the fine-tunes, unless told
    otherwise) that the pipeline benchmarks take; each is an `ExploreConfig` field, and None
    keeps codesign's default."""
    ap.add_argument(
        "--results-dir",
        default=results_dir,
        help="results folder: base models and supernets are cached in its cache/",
    )
    ap.add_argument(
        "--weights",
        default=None,
        help="full-precision state dict to start from instead of training the base model "
        "(one workload only)",
    )
    if supernet:
        ap.add_argument("--supernet-steps", type=int, default=None, help="supernet training steps")
    if finetune:
        ap.add_argument("--finetune-steps", type=int, default=None, help="steps of each fine-tune")


def pipeline_options(args: Any) -> dict[str, Any]:
    """The `add_pipeline_args` options of parsed `args`, as `ExploreConfig` fields."""
    keys = ("results_dir", "weights", "supernet_steps", "finetune_steps")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def pipeline_argv(args: Any) -> list[str]:
    """The `add_pipeline_args` options of `args` that differ from the defaults, as arguments
    (for the reproduce line)."""
    out = []
    for k, v in pipeline_options(args).items():
        if not (k == "results_dir" and v == "results"):
            out += [f"--{k.replace('_', '-')}", str(v)]
    return out


@dataclass(frozen=True)
class Pipeline:
    """codesign's `prepare` stage run on one workload and hardware (`ctx`, a
    `codesign.stages.Context`: model, data, layer graph, cost tables), and its estimator
    stage on demand."""

    ctx: Any
    evaluator: Any
    progress: Any

    def estimator(self, name: str | None = None, granularity: str | None = None) -> Any:
        """The accuracy estimator `name` (default: the config's) as `codesign explore` builds
        it, for the search space of `granularity` (default: the config's)."""
        from codesign.stages import make_estimator

        update = {
            k: v for k, v in (("estimator", name), ("granularity", granularity)) if v is not None
        }
        ctx = self.ctx
        if update:
            ctx = replace(ctx, config=ctx.config.model_copy(update=update))
        return make_estimator(ctx, self.evaluator, self.progress)

    @property
    def notes(self) -> dict[str, Any]:
        """What the stages noted in run.json (``notes["supernet"]["path"]`` ...)."""
        return self.ctx.run.info


@contextmanager
def pipeline(console: Console | None = None, **options: Any) -> Iterator[Pipeline]:
    """`prepare` for the `ExploreConfig` of `options` (None values dropped), its run files in
    a temporary folder; what it trains or maps is cached under ``results_dir``/cache, and what
    it fine-tunes in ``results_dir``/evals.sqlite, as for `codesign explore`."""
    from rich.console import Console

    from codesign.cache import EvalCache
    from codesign.config import ExploreConfig
    from codesign.distributed import DaskEvaluator
    from codesign.run import RunDir
    from codesign.stages import make_progress, prepare

    console = console or Console(stderr=True)
    cfg = ExploreConfig.build("benchmark", **options)
    cache = EvalCache(Path(cfg.results_dir) / "evals.sqlite")  # explore's fine-tune cache
    try:
        with (
            tempfile.TemporaryDirectory(prefix="codesign-bench-") as tmp,
            DaskEvaluator(cache, cfg.workers) as ev,
            make_progress(console) as prog,
        ):
            run = RunDir(Path(tmp))
            try:
                yield Pipeline(prepare(cfg, run, console), ev, prog)
            finally:
                run.close()
    finally:
        cache.close()


def draw_configs(
    space: Any, n: int, rng: np.random.Generator, keep: Any = None, tries: int = 100_000
) -> list[tuple[list[int], list[tuple[int, ...]]]]:
    """`n` configurations of `space` drawn with `rng` as the search draws genomes, one at a
    time, skipping any that cuts a layer to no channel or that `keep(weight bits per layer)`
    refuses: (activation bits per layer, weight bits per channel of each layer).
    `SystemExit` after `tries` draws."""
    out: list[tuple[list[int], list[tuple[int, ...]]]] = []
    for _ in range(tries):
        if len(out) == n:
            return out
        b = space.decode(space.random(1, rng))
        wbits = [p.weight_bits for p in b.precisions(0)]
        if any(max(w) == 0 for w in wbits) or (keep is not None and not keep(wbits)):
            continue
        out.append(([int(a) for a in b.act_bits[0]], wbits))
    if len(out) < n:
        raise SystemExit(f"found only {len(out)} of {n} configurations in {tries:,} draws")
    return out


# --- peers in virtual environments of their own -------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A tool codesign is compared with, installed in a virtual environment of its own (never
    a codesign dependency) and driven through a runner script: JSON in, JSON out."""

    name: str  # as printed
    flag: str  # --FLAG-python, --without-FLAG
    env: str  # environment variable naming its interpreter
    default: str  # the interpreter when neither is given
    install: str  # how to make the environment

    def add_arguments(self, ap: Any) -> None:
        """``--FLAG-python`` (its interpreter) and ``--without-FLAG`` (codesign's side only)."""
        ap.add_argument(
            f"--{self.flag}-python",
            default=os.environ.get(self.env, self.default),
            help=f"{self.name}'s interpreter (default: ${self.env}, else {self.default})",
        )
        ap.add_argument(
            f"--without-{self.flag}",
            action="store_true",
            help=f"codesign's side only: start no {self.name} (its columns stay empty)",
        )

    def python(self, args: Any, console: Console, required: bool = True) -> str | None:
        """The interpreter `args` name, or None when told to go without it or (not
        `required`) when it is absent; exits saying how to install it when it is required."""
        if getattr(args, f"without_{self.flag}"):
            console.print(f"--without-{self.flag}: {self.name} not run, its columns are empty")
            return None
        python = getattr(args, f"{self.flag}_python")
        if Path(python).exists():
            return python
        if required:
            raise SystemExit(
                f"no {self.name} interpreter at {python}; install it ({self.install}), "
                f"or pass --without-{self.flag}"
            )
        console.print(f"(no {self.name} at {python}: its columns are empty)")
        return None

    def run(
        self, python: str, runner: Path, *inputs: str, timeout_s: float | None = None
    ) -> tuple[subprocess.CompletedProcess | None, float]:
        """Run `runner` in the peer's interpreter on `inputs` (paths), one thread, in a
        scratch folder; returns (the process, None when it timed out; wall seconds)."""
        env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
        with tempfile.TemporaryDirectory() as cwd:
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(
                    [python, str(runner), *inputs],
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=timeout_s,
                    cwd=cwd,
                    env=env,
                )
            except subprocess.TimeoutExpired:
                return None, time.perf_counter() - t0
            return proc, time.perf_counter() - t0

    def run_json(
        self, python: str, runner: Path, cfg: dict, timeout_s: float | None = None
    ) -> tuple[dict[str, Any], float]:
        """`run` on `cfg` written as JSON; returns (the runner's JSON output, or
        ``{"error": ...}`` when it failed or timed out; wall seconds)."""
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
            src.write_text(json.dumps(cfg))
            proc, wall = self.run(python, runner, str(src), str(dst), timeout_s=timeout_s)
            if proc is None:
                return {"error": f"timed out after {timeout_s:.0f} s"}, wall
            if not dst.exists():
                return {"error": f"runner failed: {proc.stderr[-2000:]}"}, wall
            return json.loads(dst.read_text()), wall


ZIGZAG = Peer(
    "ZigZag",
    "zigzag",
    "ZIGZAG_PYTHON",
    "/work/zz-venv/bin/python",
    "python -m venv /work/zz-venv && /work/zz-venv/bin/pip install zigzag-dse six",
)
ACCELFORGE = Peer(
    "AccelForge",
    "accelforge",
    "ACCELFORGE_PYTHON",
    "/work/af-venv/bin/python",
    "a Python >= 3.12 venv at /work/af-venv, then /work/af-venv/bin/pip install accelforge",
)


# --- arguments and output ---------------------------------------------------------------------


def parse(ap: Any, argv: Sequence[str] | None = None) -> tuple[Any, list[str]]:
    """(`ap`'s parsed `argv`, `argv` as a list); `argv` None means the command line's."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return ap.parse_args(argv), argv


def console(width: int | None = 140) -> Console:
    """The console a benchmark prints its tables on (`width` None: the terminal's)."""
    from rich.console import Console

    return Console(width=width)


def command(script: str, argv: Sequence[str] | None = None) -> str:
    """The shell command that runs ``benchmarks/<script>`` with `argv`."""
    return " ".join(["python", f"benchmarks/{script}", *map(shlex.quote, argv or ())])


def show(
    con: Console,
    *tables: Any,
    reproduce: str | None = None,
    page: str | None = None,
    block: str | None = None,
) -> None:
    """Print `tables`, then the command that reproduces them; with `page`, also write them
    into ``docs/benchmarks/<page>.md`` (`write_doc_page`, into its `block`)."""
    for t in tables:
        con.print(t)
    if reproduce is not None:
        print_reproduce(reproduce)
    if page is not None:
        path = write_doc_page(page, *tables, reproduce=reproduce, block=block)
        if path is not None:
            print(f"wrote {path}", flush=True)


# --- the benchmark's page in the docs ---------------------------------------------------------

DOC_PAGES = ROOT / "docs" / "benchmarks"
# the environment variable that moves the pages (the smoke tests: a temporary folder) or, set
# to "off", writes none
DOC_PAGES_VAR = "CODESIGN_DOC_PAGES"
MEASURED_BEGIN = "<!-- measured:begin: written by the benchmark, do not edit -->"
MEASURED_END = "<!-- measured:end -->"


def machine() -> str:
    """This machine in a few words: CPU model, cores, memory, and that it has no GPU (when
    torch sees none)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    gpu = ", no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}{gpu}"


def commit() -> str:
    """The checkout's commit (short hash, '-dirty' with uncommitted changes to tracked files),
    or 'unknown' outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _cell(v: Any) -> str:
    text = getattr(v, "plain", None)
    return (str(v) if text is None else text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Any) -> str:
    """A rich `Table` as a Markdown table: its title in bold, its header, its rows, its
    caption (right-justified columns stay right-aligned)."""
    cols = table.columns
    head = "| " + " | ".join(_cell(c.header) for c in cols) + " |"
    rule = "| " + " | ".join("---:" if c.justify == "right" else "---" for c in cols) + " |"
    n = max((len(c._cells) for c in cols), default=0)
    rows = [
        "| " + " | ".join(_cell(c._cells[i]) if i < len(c._cells) else "" for c in cols) + " |"
        for i in range(n)
    ]
    out = [f"**{_cell(table.title)}**", ""] if table.title else []
    out += [head, rule, *rows]
    if table.caption:
        out += ["", f"*{_cell(table.caption)}*"]
    return "\n".join(out)


def measured_block(
    *tables: Any, reproduce: str | None, when: str | None = None, block: str | None = None
) -> str:
    """The page's measured block: date, commit, machine, the command, then the tables."""
    from datetime import date

    begin, end = markers(block)
    lines = [
        begin,
        f"Measured on {when or date.today().isoformat()} at commit `{commit()}` on "
        f"{machine()}" + (", by:" if reproduce else "."),
        "",
    ]
    if reproduce:
        lines += ["```bash", reproduce, "```", ""]
    for t in tables:
        lines += [t if isinstance(t, str) else markdown_table(t), ""]
    lines.append(end)
    return "\n".join(lines)


_PENDING: dict[str, list[Any]] = {}  # a page's tables so far, until its reproduce line comes


def markers(block: str | None = None) -> tuple[str, str]:
    """The begin and end lines of a page's measured block (one of several named `block`)."""
    if block is None:
        return MEASURED_BEGIN, MEASURED_END
    return MEASURED_BEGIN.replace("begin:", f"begin {block}:"), MEASURED_END.replace(
        "end", f"end {block}"
    )


def write_doc_page(
    name: str, *tables: Any, reproduce: str | None = None, block: str | None = None
) -> Path | None:
    """Write `tables` (rich Tables or Markdown text) with the date, commit, machine and the
    command into ``docs/benchmarks/<name>.md``: they replace the page's measured block and
    leave the prose around it; a page that does not exist yet gets a title and the block.
    A benchmark that prints its tables in several calls passes `reproduce` with the last:
    the calls before it add their tables to the same block. A benchmark measured several
    ways (per workload, per granularity) names a `block` for each, so that each run
    replaces only its own. Returns the page, or None when ``$CODESIGN_DOC_PAGES`` is ``off``
    or the block waits for its reproduce line."""
    where = os.environ.get(DOC_PAGES_VAR)
    if where == "off":
        return None
    tables = (*_PENDING.get(name, ()), *tables)
    if reproduce is None:
        _PENDING[name] = list(tables)
        return None
    _PENDING.pop(name, None)
    folder = Path(where) if where else DOC_PAGES
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{name}.md"
    begin, end = markers(block)
    measured = measured_block(*tables, reproduce=reproduce, block=block)
    text = page.read_text() if page.exists() else f"# {name.replace('_', ' ')}\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + measured + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + measured + "\n"
    page.write_text(text)
    return page


def print_reproduce(cmd: str) -> None:
    """Print the command that reproduces a benchmark's figures."""
    print(f"reproduce: {cmd}", flush=True)
