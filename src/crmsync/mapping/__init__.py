"""Declarative field maps: vendor fields ↔ canonical values, through pure transforms and value maps."""

from crmsync.mapping.loader import default_mappings, load_mappings, mappings_from_document, parse_mappings
from crmsync.mapping.problems import MappingProblem, TransformError
from crmsync.mapping.registry import TRANSFORMS, build_transform
from crmsync.mapping.rules import Direction, FieldRule, Mapped, Mappings, ObjectMap
from crmsync.mapping.transform import OMIT, Transform
from crmsync.mapping.valuemap import ValueMap
from crmsync.mapping.yamlsource import ConfigIssue, MappingConfigError, YamlDocument, load_yaml, parse_yaml

__all__ = [
    "OMIT",
    "TRANSFORMS",
    "ConfigIssue",
    "Direction",
    "FieldRule",
    "Mapped",
    "MappingConfigError",
    "MappingProblem",
    "Mappings",
    "ObjectMap",
    "Transform",
    "TransformError",
    "ValueMap",
    "YamlDocument",
    "build_transform",
    "default_mappings",
    "load_mappings",
    "load_yaml",
    "mappings_from_document",
    "parse_mappings",
    "parse_yaml",
]
