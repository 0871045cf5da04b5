"""YAML with a memory of where every key and item was written, for errors that name file, line and key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crmsync.errors import ConfigError

PathKey = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One mistake in a configuration file: where it is and what was expected instead."""

    file: str
    line: int | None
    column: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class MappingConfigError(ConfigError):
    """A mapping configuration with mistakes; the message lists every one, one per line."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} mistake{'s' if count != 1 else ''} in the field maps:"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


@dataclass(slots=True)
class YamlDocument:
    """Parsed data plus the (line, column) of every key path, 1-based as editors show them."""

    data: Any
    file: str
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # A rewritten path (`contact.fields.colour`) → the path it was written at (`contact.colour`).
    aliases: dict[PathKey, PathKey] = field(default_factory=dict)

    def locate(self, path: Sequence[object]) -> tuple[int | None, int | None]:
        """The position of the longest prefix of `path` that was written in the file."""
        key = tuple(str(part) for part in path)
        for end in range(len(key), -1, -1):
            prefix = key[:end]
            if prefix in self.aliases:
                prefix = self.aliases[prefix]
            if prefix in self.marks:
                return self.marks[prefix]
        return None, None

    def issue(self, path: Sequence[object], message: str) -> ConfigIssue:
        line, column = self.locate(path)
        key = ".".join(str(part) for part in self._written(path))
        return ConfigIssue(self.file, line, column, key, message)

    def _written(self, path: Sequence[object]) -> PathKey:
        key = tuple(str(part) for part in path)
        for end in range(len(key), 0, -1):
            if key[:end] in self.aliases:
                return self.aliases[key[:end]] + key[end:]
        return key


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; syntax errors and duplicate keys raise MappingConfigError with their line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        problem = exc.problem or str(exc)
        raise MappingConfigError([ConfigIssue(file, line, column, "", f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    doc = YamlDocument(data, file)
    issues: list[ConfigIssue] = []
    if node is not None:
        _walk(node, (), doc, issues)
    if issues:
        raise MappingConfigError(issues)
    return doc


def load_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingConfigError([ConfigIssue(str(path), None, None, "", f"cannot read: {exc.strerror}")]) from None
    return parse_yaml(text, str(path))


def _walk(node: yaml.Node, path: PathKey, doc: YamlDocument, issues: list[ConfigIssue]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            child = (*path, name)
            if name in seen:
                # PyYAML keeps the last of two equal keys silently; a field map must not lose a rule that way.
                line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                issues.append(ConfigIssue(doc.file, line, column, ".".join(child), "duplicate key; write it once"))
            seen.add(name)
            doc.marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, child, doc, issues)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            doc.marks[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(item, child, doc, issues)


def as_mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None
