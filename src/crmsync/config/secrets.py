"""Values read from the environment or from files (`{env: NAME}`, `{file: PATH}`); secrets may come no other way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from crmsync.config.problems import PathKey
from crmsync.mapping import ConfigIssue, YamlDocument

REFERENCE_KEYS = ("env", "file")


@dataclass(frozen=True, slots=True)
class Sources:
    """Where references are looked up: the environment (injected in tests) and the config file's directory."""

    environ: Mapping[str, str]
    base_dir: Path


def is_reference(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in REFERENCE_KEYS


def inline_secret_issue(doc: YamlDocument, path: PathKey) -> ConfigIssue:
    # The message never repeats the value: it is a credential written where anyone reading the file sees it.
    name = path[-1]
    return doc.issue(
        path,
        f"a secret cannot be written in the file; use `{name}: {{env: VARIABLE}}` to read it from the environment "
        f"or `{name}: {{file: /run/secrets/{name}}}` to read it from a file",
    )


def resolve(
    value: Any, path: PathKey, doc: YamlDocument, sources: Sources, *, secret: bool
) -> tuple[Any, ConfigIssue | None]:
    """The value a setting stands for: a reference resolved (SecretStr for secrets), anything else as written.

    Returns (value, None) or (None, issue). An inline secret is refused: only references may fill it.
    """
    if isinstance(value, Mapping) and set(value) & set(REFERENCE_KEYS):
        if not is_reference(value):
            return None, doc.issue(path, "expected exactly one of `env: VARIABLE` or `file: PATH`")
        source, where = next(iter(value.items()))
        if not isinstance(where, str) or not where:
            return None, doc.issue((*path, source), "expected a non-empty string")
        text, issue = _read_env(where, path, doc, sources) if source == "env" else _read_file(where, path, doc, sources)
        if issue is not None:
            return None, issue
        return (SecretStr(text) if secret else text), None
    if secret and value is not None:
        return None, inline_secret_issue(doc, path)
    return value, None


def _read_env(name: str, path: PathKey, doc: YamlDocument, sources: Sources) -> tuple[str, ConfigIssue | None]:
    text = sources.environ.get(name)
    if text is None:
        return "", doc.issue((*path, "env"), f"environment variable {name} is not set")
    if not text.strip():
        return "", doc.issue((*path, "env"), f"environment variable {name} is empty")
    return text, None


def _read_file(name: str, path: PathKey, doc: YamlDocument, sources: Sources) -> tuple[str, ConfigIssue | None]:
    file = Path(name).expanduser()
    if not file.is_absolute():
        file = sources.base_dir / file  # relative to the config file, so the working directory does not matter
    try:
        # Secret files (Docker, Kubernetes) usually end with a newline that is not part of the secret.
        text = file.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable UTF-8 text"
        return "", doc.issue((*path, "file"), f"cannot read {file}: {reason}")
    if not text.strip():
        return "", doc.issue((*path, "file"), f"{file} is empty")
    return text, None
