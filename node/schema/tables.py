"""The README's log-format and summary.json tables, generated from node.schema's definitions.

`python -m node.schema` prints them; tests/unit/test_schema.py checks the README against them.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from node.schema.log import COMMON, EVENTS, TYPES
from node.schema.summary import Percentiles, Summary, hints, is_typeddict

BEGIN, END = "<!-- tables: python -m node.schema -->\n", "\n<!-- end of tables -->"  # around them in README.md


def _type_name(t: Any) -> str:  # noqa: PLR0911 - one return per kind of type
    origin = get_origin(t)
    if origin is Annotated:
        return _type_name(get_args(t)[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(t))
    if t is type(None):
        return "null"
    if is_typeddict(t):
        return "object"
    if origin is dict:
        return f"object of {_type_name(get_args(t)[1])}"
    if origin is list:
        return f"list of {_type_name(get_args(t)[0])}"
    return {int: "integer", float: "number", str: "string", bool: "boolean"}.get(t, str(t))


def _doc(t: Any) -> str:
    return str(get_args(t)[1]) if get_origin(t) is Annotated else ""


def _percentiles_in(typed: type) -> bool:
    """Whether a TypedDict holds every percentile key (it is Percentiles, or extends it)."""
    return hints(Percentiles).keys() <= hints(typed).keys()


def _summary_rows(typed: type, prefix: str, rows: list[str]) -> None:
    inherited = hints(Percentiles) if _percentiles_in(typed) else {}
    for key, t in hints(typed).items():
        if key in inherited:
            continue  # said once, in the `percentiles` row
        inner = get_args(t)[0] if get_origin(t) is Annotated else t
        nested = [a for a in (get_args(inner) or (inner,)) if is_typeddict(a)]
        suffix = ""
        if get_origin(inner) is dict and is_typeddict(get_args(inner)[1]):
            nested, suffix = [get_args(inner)[1]], ".<id>"
        if get_origin(inner) is list and is_typeddict(get_args(inner)[0]):
            nested, suffix = [get_args(inner)[0]], "[]"
        path = f"{prefix}{key}{suffix}"
        kind = _type_name(t)
        if nested and _percentiles_in(nested[0]):
            kind = "percentiles" + (", and:" if nested[0] is not Percentiles else "")
        rows.append(f"| `{path}` | {kind} | {_doc(t)} |")
        for sub in nested:
            _summary_rows(sub, f"{path}.", rows)


def markdown_tables() -> str:
    """The README's log-format and summary.json tables, generated from the definitions above."""
    out = ["| field | type | meaning |", "| --- | --- | --- |"]
    out += [f"| `{f.name}` | {TYPES[f.type]} | {f.doc} |" for f in COMMON]
    out += ["", "| event | fields after the common ones | when |", "| --- | --- | --- |"]
    for e in EVENTS.values():
        names = ", ".join(f"`{f.name}`" + (f" (format {f.since}+)" if f.since > 1 else "") for f in e.fields)
        out.append(f"| `{e.name}` | {names or '-'} | {e.when} |")
    out += ["", "| summary.json key | type | what |", "| --- | --- | --- |"]
    keys = ", ".join(f"`{k}`" for k in hints(Percentiles))
    out.append(
        f"| (percentiles) | object | {keys}: null where nothing was measured; linear interpolation between ranks |"
    )
    _summary_rows(Summary, "", out)
    return "\n".join(out)
