"""The reference pages, generated from the code on every `mkdocs build` (an MkDocs hook).

- ``reference/cli.md``: every ``codesign`` command and option, from the argparse parser;
- ``reference/config.md``: every `ExploreConfig` field, with its flag, type and default;
- ``reference/hardware.md``: every field of every hardware family's YAML schema (pydantic);
- ``reference/run-folder.md``: the files of a run folder and their formats.

Nothing here is committed as Markdown, so a page cannot go stale; tests/test_docs.py checks
that each page names everything the code defines. ``python docs/gen_ref.py OUT_DIR`` writes the
pages to a folder, to read them without building the site.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _md(text: Any) -> str:
    """`text` safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


# ---- the command line -----------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """(full name, parser) of every subcommand below `parser`, depth first."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((name, sub))
                out += [(f"{name} {n}", p) for n, p in _subcommands(sub)]
    return out


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
    ]


def cli_page() -> str:
    """Every `codesign` command: its description, usage and options (from `codesign.cli`)."""
    from codesign.cli import _parser

    root = _parser()
    lines = [
        "# Command line",
        "",
        "Generated from the argparse parser in `codesign/cli.py` (`codesign COMMAND --help` "
        "prints the same). Every `explore` option is a field of "
        "[`ExploreConfig`](config.md).",
        "",
    ]
    for name, sub in [("", root), *_subcommands(root)]:
        title = f"codesign {name}".strip()
        lines += [f"## `{title}`", ""]
        if sub.description:
            lines += [_md(sub.description), ""]
        usage = " ".join(sub.format_usage().split()).removeprefix("usage: ")
        lines += ["```text", usage, "```", ""]
        opts = _options(sub)
        if opts:
            lines += ["| option | meaning |", "| --- | --- |"]
            for a in opts:
                flags = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.metavar or a.dest}`"
                lines.append(f"| {flags} | {_md(a.help or '')} |")
            lines.append("")
    return "\n".join(lines)


# ---- ExploreConfig --------------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def config_page() -> str:
    """Every `ExploreConfig` field: its flag, type, default and description."""
    from codesign.config import CONFIG_VERSION, ExploreConfig

    lines = [
        "# ExploreConfig",
        "",
        f"`codesign.config.ExploreConfig` (format version {CONFIG_VERSION}) is the one "
        "description of a run: each field is a `codesign explore` flag, a keyword argument of "
        "`codesign.explore(...)`, a key of a `--config` YAML file and of the `config` block of "
        "a run's `run.json`. Unknown keys and bad values are one error naming the field.",
        "",
        "| field | flag | type | default | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, f in ExploreConfig.model_fields.items():
        flag = "-" if name == "version" else f"`--{name.replace('_', '-')}`"
        default = "required" if f.is_required() else repr(f.default)
        lines.append(
            f"| `{name}` | {flag} | {_md(_type_name(f.annotation))} | `{_md(default)}` | "
            f"{_md(f.description or '')} |"
        )
    lines += [
        "",
        "A config file holds any of these fields:",
        "",
        "```yaml",
        "workload: digits_cnn",
        "hw: mpic",
        "objectives: [accuracy_loss, latency, memory]",
        "generations: 10",
        "```",
        "",
    ]
    return "\n".join(lines)


# ---- hardware files -------------------------------------------------------------------------


def _model_of(annotation: Any) -> Any:
    """The pydantic model inside `annotation` (itself, or a list / dict of it), or None."""
    from pydantic import BaseModel

    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for a in typing.get_args(annotation):
        m = _model_of(a)
        if m is not None:
            return m
    return None


def schema_fields(model: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, pydantic field info, the model that holds it) of every field of
    `model`, nested models expanded (a list of models as ``memories[].name``)."""
    out = []
    for name, f in model.model_fields.items():
        path = prefix + name
        out.append((path, f, model))
        inner = _model_of(f.annotation)
        if inner is not None:
            is_list = typing.get_origin(f.annotation) is list
            out += schema_fields(inner, path + ("[]." if is_list else "."))
    return out


def _constraints(f: Any) -> str:
    parts = []
    for m in f.metadata:
        for key in ("gt", "ge", "lt", "le", "min_length", "max_length"):
            v = getattr(m, key, None)
            if v is not None:
                parts.append(f"{key} {v}")
    return ", ".join(parts)


def hardware_page() -> str:
    """Every field of every hardware family's YAML schema, and a bundled file of each."""
    from codesign.hw.family import FAMILIES
    from codesign.hw.schema import SCHEMA_VERSION

    lines = [
        "# Hardware files",
        "",
        f"A hardware file is YAML (`version: {SCHEMA_VERSION}`) validated by its family's "
        "pydantic schema: unknown keys are an error, as are duplicate keys. `family:` picks "
        "the schema. Generated from the schemas in `codesign/families/`; "
        "[the cost models](../explanation/cost-models.md) explain how the fields are used, "
        "and [extending](../extending.md) how to add a family.",
        "",
    ]
    examples = {}
    for f in sorted((ROOT / "codesign" / "hw_models").glob("*.yaml")):
        text = f.read_text()
        for line in text.splitlines():
            if line.startswith("family:"):
                examples.setdefault(line.split(":", 1)[1].split("#")[0].strip(), (f.name, text))
    for name in FAMILIES.names():
        fam = FAMILIES.get(name)
        schema = fam.schema
        lines += [f"## Family `{name}`", "", _md(inspect.getdoc(schema) or ""), ""]
        lines += _schema_table(schema)
        if name in examples:
            file, text = examples[name]
            lines += [f"A bundled `{name}` file, `hw_models/{file}`:", "", "```yaml", text, "```"]
            lines.append("")
    lines += _sizing_sections()
    return "\n".join(lines)


def _schema_table(schema: Any) -> list[str]:
    """One table row per field of `schema` (nested models expanded)."""
    lines = ["| field | type | required / default | constraints | meaning |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for path, f, _holder in schema_fields(schema):
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        req = "required" if f.is_required() else f"default `{_md(repr(default))}`"
        inner = _model_of(f.annotation)
        meaning = f.description or (inspect.getdoc(inner) if inner is not None else "")
        lines.append(
            f"| `{path}` | {_md(_type_name(f.annotation))} | {req} | "
            f"{_md(_constraints(f))} | {_md(meaning or '')} |"
        )
    return [*lines, ""]


def _sizing_sections() -> list[str]:
    """The hardware space file (`--hw-space`), its sizing parameters per family, and the
    component table it scales costs by."""
    from codesign.hw.components import ComponentsSchema
    from codesign.hw.family import FAMILIES
    from codesign.hw.space import HwSpaceSchema

    lines = ["## Hardware spaces (`--hw-space`)", "", _md(inspect.getdoc(HwSpaceSchema) or ""), ""]
    lines += [
        "A space names a base hardware file and, per sizing parameter, its allowed values; "
        "`codesign explore --hw-space FILE` searches them beside the bits and mappings (see "
        "[the cost models](../explanation/cost-models.md#sizing-the-hardware)).",
        "",
        *_schema_table(HwSpaceSchema),
    ]
    for name in FAMILIES.names():
        fam = FAMILIES.get(name)
        if not fam.parameters:
            continue
        lines += [f"Sizing parameters of the `{name}` family:", ""]
        lines += ["| parameter | meaning |", "| --- | --- |"]
        lines += [f"| `{k}` | {_md(v)} |" for k, v in fam.parameters.items()]
        lines.append("")
    space = ROOT / "codesign" / "hw_models" / "spaces" / "eyeriss_space.yaml"
    lines += ["The bundled space `hw_models/spaces/eyeriss_space.yaml`:", "", "```yaml"]
    lines += [space.read_text(), "```", ""]
    lines += ["## Component tables", "", _md(inspect.getdoc(ComponentsSchema) or ""), ""]
    lines += [
        "Written by `tools/tabulate_components.py` (CACTI 7 and Aladdin through hwcomponents, in "
        "a virtual environment of its own); codesign reads the table, never CACTI.",
        "",
        *_schema_table(ComponentsSchema),
    ]
    return lines


# ---- the run folder -------------------------------------------------------------------------


def run_folder_page() -> str:
    """The files of a run folder (from `codesign.run`) and the formats they are written in."""
    import codesign.quant.config as qconfig
    import codesign.run as run

    doc = inspect.getdoc(run) or ""
    layout = doc.split("::", 1)[1] if "::" in doc else doc
    lines = [
        "# Run folder",
        "",
        "`codesign explore` writes everything into one folder, `results/<run-id>/` (or "
        "`--out`), as soon as it exists; `codesign runs` lists them. Only `codesign.run` "
        "reads and writes these files (the report and the exporters go through it).",
        "",
        "```text",
        inspect.cleandoc(layout),
        "```",
        "",
        "| format | version |",
        "| --- | --- |",
        f"| `run.json` | `{run.RUN_FORMAT}` v{run.RUN_VERSION} |",
        f"| `pareto.json` | `{run.FRONT_FORMAT}` v{run.FRONT_VERSION} (older versions are "
        "converted when read) |",
        f"| exported config (`codesign export --format config`) | `{qconfig.FORMAT}` "
        f"v{qconfig.VERSION} |",
        "",
        f"Each Pareto point in `pareto.json` carries the metrics {', '.join(run.FRONT_METRICS)} "
        "besides its per-layer precisions, mapping and per-layer costs.",
        "",
        "## The exported config",
        "",
        "```text",
        inspect.getdoc(qconfig) or "",
        "```",
        "",
        "Shared caches live beside the runs: `results/cache/` (full-precision models, "
        "supernets, mapper results, the fine-tuned models exports read) and "
        "`results/evals.sqlite` (every fine-tune's result, keyed by workload, base weights, "
        "configuration, recipe and seed).",
        "",
    ]
    return "\n".join(lines)


PAGES = {
    "reference/cli.md": cli_page,
    "reference/config.md": config_page,
    "reference/hardware.md": hardware_page,
    "reference/run-folder.md": run_folder_page,
}


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated reference pages to the site."""
    from mkdocs.structure.files import File

    for uri, make in PAGES.items():
        files.append(File.generated(config, uri, content=make()))
    return files


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "reference-pages")
    for uri, make in PAGES.items():
        p = out / uri
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(make())
        print(p)
