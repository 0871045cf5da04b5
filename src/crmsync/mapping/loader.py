"""Where field maps come from: the shipped defaults, overlaid by the user's file or config section."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from crmsync.mapping.compile import Layer, combine, compile_document
from crmsync.mapping.rules import SHIPPED_FILE, Mappings
from crmsync.mapping.yamlsource import PathKey, YamlDocument, load_yaml, parse_yaml

DEFAULTS_FILE = SHIPPED_FILE


@cache
def default_layer() -> Layer:
    text = resources.files("crmsync.mapping").joinpath(DEFAULTS_FILE).read_text(encoding="utf-8")
    return compile_document(parse_yaml(text, DEFAULTS_FILE))


def default_mappings() -> Mappings:
    """The shipped maps of the standard fields of all four kinds across Salesforce, HubSpot and Dataverse."""
    return combine([default_layer()])


def mappings_from_document(doc: YamlDocument, root: PathKey = (), *, defaults: bool = True) -> Mappings:
    """The defaults overlaid by the maps at `root` of a parsed document (e.g. `("mappings",)` of crmsync.yaml)."""
    layers = [default_layer()] if defaults else []
    layers.append(compile_document(doc, root))
    return combine(layers)


def load_mappings(path: Path | None = None, *, defaults: bool = True) -> Mappings:
    """The active maps: shipped defaults, overlaid by the file at `path` when given."""
    if path is None:
        return default_mappings()
    return mappings_from_document(load_yaml(path), defaults=defaults)


def parse_mappings(text: str, file: str = "<mappings>", *, defaults: bool = True) -> Mappings:
    return mappings_from_document(parse_yaml(text, file), defaults=defaults)
