"""Import the user's own modules (``--workload mypkg.models:build``, ``--data mypkg.data:load``)
from the folder codesign runs in, as ``python -m`` would."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType


def import_user_module(name: str) -> ModuleType:
    """The module `name`, imported with the current folder first on ``sys.path``.

    A console script (``codesign explore``) starts with its ``bin/`` folder first on the path,
    not the folder it runs in; ``python -m`` puts that folder first. The folder stays on the
    path afterwards, so the module's own later imports and Dask worker processes (which start
    with this process's ``sys.path``) find it too. Raises what `importlib.import_module` raises.
    """
    cwd = os.getcwd()
    if not sys.path or sys.path[0] not in ("", cwd):
        sys.path.insert(0, cwd)
        importlib.invalidate_caches()
    return importlib.import_module(name)


def names_module(spec: str | None) -> bool:
    """True when `spec` (a workload or data name) is ``package.module:function``: resolving it
    imports that module and runs its code (an ONNX file or a registered name does not)."""
    return (
        isinstance(spec, str)
        and ":" in spec
        and not spec.lower().endswith(".onnx")
        and not os.path.exists(spec)
    )


def refuse_unnamed(spec: str | None, named: str | None, source: str, flag: str) -> None:
    """`CodesignError` when `spec`, read from the file `source`, names a module (see
    `names_module`) the user did not name too (`named`, from the command line or an argument):
    codesign imports no module that only a file it reads names, so a run folder or an export
    received from someone else runs none of their code."""
    from codesign.core.errors import CodesignError

    if names_module(spec) and named != spec:
        raise CodesignError(
            f"{source} names the module '{spec}' ({flag}); codesign imports no module that "
            f"only a file names: pass {flag}{'' if flag.endswith('=') else ' '}{spec!r} to "
            "import it"
        )
