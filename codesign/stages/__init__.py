"""The stages of a run, each a function of the `Context` and the previous stage's value:

    prepare(cfg) -> Context -> make_estimator -> search -> SearchResult -> select_front
                 -> Front -> rescore -> Front

One module each; `codesign.explore` chains them, saving each result in the run directory as
it is made.
"""

from codesign.stages.context import Context, make_progress
from codesign.stages.estimators import ESTIMATORS, make_estimator
from codesign.stages.front import select_front
from codesign.stages.prepare import prepare
from codesign.stages.rescore import rescore
from codesign.stages.search import SearchResult, search

__all__ = [
    "ESTIMATORS",
    "Context",
    "SearchResult",
    "make_estimator",
    "make_progress",
    "prepare",
    "rescore",
    "search",
    "select_front",
]
