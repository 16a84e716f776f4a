"""Class 4: every file a kill could leave half written is written atomically. Each writer runs
in a forked child that is SIGKILLed in the middle of its write (at the fsync of the new bytes);
the file it was replacing must come through whole."""

from __future__ import annotations

import os
import signal

import pytest

OLD = "previous content, whole\n"


def _killed_during(write) -> None:
    pid = os.fork()
    if pid == 0:  # the child: dies inside the write
        try:
            os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
            write()
        finally:
            os._exit(3)  # reached only when the write never fsynced
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


def _writers(run, out):
    from codesign.exporters import export
    from codesign.report.compare import write_compare
    from codesign.report.html import write_report
    from codesign.run import RunDir
    from codesign.search.checkpoint import Checkpointer

    front = _front(run)  # read before pareto.json is replaced
    return {
        "pareto.html": (run / "pareto.html", lambda: write_report(run)),
        "compare": (out / "compare.html", lambda: write_compare([run, run], out / "compare.html")),
        "export config": (out / "p.yaml", lambda: export(run, 0, "config", out / "p.yaml")),
        "export json": (out / "p.json", lambda: export(run, 0, "json", out / "p.json")),
        "export zigzag": (out / "z.yaml", lambda: export(run, 0, "zigzag", out / "z.yaml")),
        "export timeloop": (
            out / "t" / "index.yaml",
            lambda: export(run, 0, "timeloop", out / "t"),
        ),
        "run.json": (run / "run.json", lambda: RunDir(run).note(status="x")),
        "pareto.json": (run / "pareto.json", lambda: RunDir(run).save_front(*front)),
        "checkpoint": (run / "ck.pkl", lambda: Checkpointer(run / "ck.pkl").save({})),
    }


def _front(run):
    from codesign.run import RunDir

    f = RunDir(run).load_front()
    return f, f.extra["channels"]


@pytest.mark.parametrize(
    "name",
    ["pareto.html", "compare", "export config", "export json", "export zigzag",
     "export timeloop", "run.json", "pareto.json", "checkpoint"],
)  # fmt: skip
def test_a_kill_during_the_write_leaves_the_previous_file_whole(run_copy, tmp_path, name):
    target, write = _writers(run_copy, tmp_path)[name]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(OLD)
    _killed_during(write)
    assert target.read_text() == OLD
