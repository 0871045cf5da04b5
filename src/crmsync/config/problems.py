"""Mistakes in crmsync.yaml: the error listing all of them, and pydantic's errors turned into located issues."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from crmsync.errors import ConfigError
from crmsync.mapping import ConfigIssue, YamlDocument

PathKey = tuple[str, ...]


class ConfigFileError(ConfigError):
    """A crmsync.yaml with mistakes; the message lists every one as `file:line:col: key: what was expected`."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} mistake{'s' if count != 1 else ''} in the configuration:"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


def pydantic_issues(
    doc: YamlDocument,
    base: PathKey,
    errors: Sequence[Any],
    allowed: Callable[[PathKey], Collection[str]],
    *,
    secret: Collection[str] = (),
) -> list[ConfigIssue]:
    """Pydantic's errors of the model validated at `base` as located issues.

    `allowed(loc)` names the keys valid in the mapping at `loc` (for "unknown key" messages). Values
    of `secret` fields are never echoed, whatever went wrong with them.
    """
    issues: list[ConfigIssue] = []
    for err in errors:
        loc = tuple(str(part) for part in err["loc"])
        path = (*base, *loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            keys = ", ".join(sorted(allowed(loc[:-1])))
            issues.append(doc.issue(path, f"unknown key {loc[-1]!r}; expected one of: {keys}"))
        elif kind == "missing":
            issues.append(doc.issue(path[:-1], f"missing required key {loc[-1]!r}"))
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            given = err.get("input")
            hidden = any(part in secret for part in loc) or isinstance(given, dict | list) or given is None
            shown = "" if hidden or kind == "value_error" else f" (got {given!r})"
            issues.append(doc.issue(path, f"{message}{shown}"))
    return issues
