"""Read values YAML keeping the line of every key, and flatten it onto the parameter table."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cachemgr.core.params import BY_NAME

Path_ = tuple[str | int, ...]


def dotted(name: str, loc: Path_) -> str:
    """A key as problems show it: k8s.tolerations + (0, "value") -> k8s.tolerations[0].value."""
    return name + "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc)


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.reason}"


def shown_path(path: Path) -> str:
    """A file as problems name it: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class ValuesError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(map(str, self.problems)))


@dataclass
class Entry:
    """One parameter as written in one file."""

    raw: Any
    file: str
    line: int
    lines: dict[Path_, int] = field(default_factory=dict)  # lines of nested items, relative paths

    def line_of(self, loc: Path_) -> int:
        """The line of the deepest written item on loc (pydantic error locations)."""
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return self.line


def read_yaml(path: Path, shown: str) -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML file into plain data plus {key path: 1-based line}."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValuesError([Problem(shown, 1, "file", f"cannot read: {e}")]) from None
    try:
        try:
            data, lines = _compose(yaml.CSafeLoader, text, shown)  # libyaml: 8x faster than pure Python
        except yaml.MarkedYAMLError:
            # Pure Python's messages say what it expected ("expected ',' or ']', but got '<stream end>'").
            data, lines = _compose(yaml.SafeLoader, text, shown)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise ValuesError([Problem(shown, line, "yaml", e.problem or str(e))]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValuesError([Problem(shown, 1, "yaml", "the file must be a mapping of keys to values")])
    return data, lines


def _compose(
    loader_class: type[yaml.SafeLoader | yaml.CSafeLoader], text: str, shown: str
) -> tuple[Any, dict[Path_, int]]:
    lines: dict[Path_, int] = {}
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return (_build(loader, node, (), lines, shown) if node is not None else {}), lines
    finally:
        loader.dispose()


def _build(
    loader: yaml.SafeLoader | yaml.CSafeLoader, node: yaml.Node, at: Path_, lines: dict[Path_, int], shown: str
) -> Any:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                raise ValuesError([Problem(shown, key_node.start_mark.line + 1, str(key), "keys must be text")])
            if key in out:
                raise ValuesError(
                    [Problem(shown, key_node.start_mark.line + 1, ".".join(map(str, (*at, key))), "duplicate key")]
                )
            out[key] = _build(loader, value_node, (*at, key), lines, shown)
            lines[(*at, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*at, i), lines, shown) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def flatten(data: dict[str, Any], lines: dict[Path_, int], shown: str) -> tuple[dict[str, Entry], list[Problem]]:
    """Map nested YAML keys onto dotted parameter names; unknown keys are problems."""
    entries: dict[str, Entry] = {}
    problems: list[Problem] = []

    def walk(mapping: dict[str, Any], prefix: str, at: Path_) -> None:
        for key, value in mapping.items():
            name = f"{prefix}{key}"
            here = (*at, key)
            if name in BY_NAME:
                sub = {p[len(here) :]: n for p, n in lines.items() if p[: len(here)] == here and len(p) > len(here)}
                entries[name] = Entry(value, shown, lines[here], sub)
            elif isinstance(value, dict) and any(n.startswith(name + ".") for n in BY_NAME):
                walk(value, name + ".", here)
            else:
                hint = difflib.get_close_matches(name, BY_NAME, n=1)
                reason = "unknown parameter" + (f' (did you mean "{hint[0]}"?)' if hint else "")
                problems.append(Problem(shown, lines[here], name, reason + "; see docs/parameters.md"))

    walk(data, "", ())
    return entries, problems
