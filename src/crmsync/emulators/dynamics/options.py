"""Request options: system query options (`$select`, `$orderby`, ...), `Prefer` preferences, paging cookies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.odata_filter import CompiledFilter, compile_filter
from crmsync.emulators.dynamics.schema import Column, Table

_LINK_SAFE = ",()'=:$/*-._~"
KNOWN_OPTIONS = frozenset(
    {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken", "$deltatoken", "$apply"}
)
_COOKIE = re.compile(r'^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(True|False)" />$')
_INNER = re.compile(r'crmsync="([^"]+)"')
_PREFER_PAGE = re.compile(r"odata\.maxpagesize\s*=\s*([^,;\s]+)", re.IGNORECASE)
_PREFER_ANNOTATIONS = re.compile(r'odata\.include-annotations\s*=\s*"?([^",]*)"?', re.IGNORECASE)


@dataclass(slots=True)
class Prefer:
    max_page_size: int | None = None
    annotations: str | None = None
    return_representation: bool = False
    track_changes: bool = False
    continue_on_error: bool = False

    @property
    def formatted_values(self) -> bool:
        pattern = self.annotations or ""
        return pattern == "*" or "FormattedValue" in pattern or pattern.startswith("OData.Community.*")

    @property
    def lookup_annotations(self) -> bool:
        pattern = self.annotations or ""
        return pattern == "*" or "Microsoft.Dynamics.CRM" in pattern


def parse_prefer(values: list[str]) -> Prefer:
    prefer = Prefer()
    for raw in values:
        text = raw.strip()
        page = _PREFER_PAGE.search(text)
        if page is not None:
            try:
                prefer.max_page_size = int(page.group(1).strip('"'))
            except ValueError:
                errors.bad_request(f"The value '{page.group(1)}' of odata.maxpagesize is not a valid integer.")
        annotations = _PREFER_ANNOTATIONS.search(text)
        if annotations is not None:
            prefer.annotations = annotations.group(1)
        lowered = text.lower()
        if "return=representation" in lowered:
            prefer.return_representation = True
        if "odata.track-changes" in lowered:
            prefer.track_changes = True
        if "odata.continue-on-error" in lowered:
            prefer.continue_on_error = True
    return prefer


@dataclass(slots=True)
class QueryOptions:
    """Validated system query options of one request; `raw` keeps them to rebuild paging links."""

    raw: list[tuple[str, str]] = field(default_factory=list)
    select: list[Column] | None = None
    select_names: list[str] = field(default_factory=list)
    filter: CompiledFilter | None = None
    orderby: list[tuple[Column, bool]] = field(default_factory=list)
    top: int | None = None
    count: bool = False
    expand: list[tuple[str, list[str] | None]] = field(default_factory=list)
    skiptoken: str | None = None
    deltatoken: str | None = None
    table: Table | None = None  # the table a cached parse belongs to (emulators built side by side differ)

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.raw)


def split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses and quotes (`$expand=a($select=x,y),b`)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if current or parts:
        parts.append("".join(current).strip())
    return parts


def resolve_select(table: Table, text: str) -> tuple[list[Column], list[str]]:
    columns: list[Column] = []
    names: list[str] = []
    for name in split_top_level(text):
        if not name:
            errors.query_error("The $select query option contains an empty item.")
        if name == "*":
            return list(table.columns.values()), []
        column = table.properties.get(name)
        if column is None:
            errors.no_property(table.logical_name, name)
        if column not in columns:
            columns.append(column)
            names.append(name)
    return columns, names


_OPTIONS_CACHE: dict[tuple[str, tuple[tuple[str, str], ...]], QueryOptions] = {}
_PER_PAGE = frozenset({"$skiptoken", "$deltatoken"})


def cached_options(table: Table, pairs: list[tuple[str, str]]) -> QueryOptions:
    """`parse_options` memoised per table and query: `$batch` parts repeat one `$select` a thousand times.

    Shared results are never mutated; failures are not cached; queries carrying a page cookie are not kept."""
    if not pairs:
        key: tuple[str, tuple[tuple[str, str], ...]] = (table.logical_name, ())
    elif any(name in _PER_PAGE for name, _ in pairs):
        return parse_options(table, pairs)
    else:
        key = (table.logical_name, tuple(pairs))
    found = _OPTIONS_CACHE.get(key)
    if found is None or found.table is not table:
        found = parse_options(table, pairs)
        found.table = table
        if len(_OPTIONS_CACHE) >= 1024:
            _OPTIONS_CACHE.clear()
        _OPTIONS_CACHE[key] = found
    return found


def parse_options(table: Table | None, pairs: list[tuple[str, str]]) -> QueryOptions:
    options = QueryOptions(raw=pairs)
    seen: set[str] = set()
    for key, value in pairs:
        if not key.startswith("$"):
            continue  # parameter aliases (@p1) and other non-system options
        if key == "$skip":
            errors.query_error("The query parameter $skip is not supported")
        if key not in KNOWN_OPTIONS:
            errors.query_error(f"The query parameter {key} is not supported")
        if key in seen:
            errors.query_error(
                f"Query option '{key}' was specified more than once, but it must be specified at most once."
            )
        seen.add(key)
        if key == "$top":
            if not value.isdigit():
                errors.query_error(
                    f"Invalid value '{value}' for $top query option found. "
                    "The $top query option requires a non-negative integer value."
                )
            options.top = int(value)
        elif key == "$count":
            if value not in ("true", "false"):
                errors.query_error(f"'{value}' is not a valid count option.")
            options.count = value == "true"
        elif key == "$skiptoken":
            options.skiptoken = value
        elif key == "$deltatoken":
            options.deltatoken = value
        elif key == "$apply":
            errors.query_error("The query parameter $apply is not supported by this emulator")
        elif table is None:
            continue
        elif key == "$select":
            options.select, options.select_names = resolve_select(table, value)
        elif key == "$filter":
            options.filter = compile_filter(table, value)
        elif key == "$orderby":
            options.orderby = _orderby(table, value)
        elif key == "$expand":
            options.expand = _expand(table, value)
    return options


def _orderby(table: Table, text: str) -> list[tuple[Column, bool]]:
    result: list[tuple[Column, bool]] = []
    for item in split_top_level(text):
        parts = item.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            errors.query_error(f"Syntax error in $orderby at '{item}'.")
        column = table.properties.get(parts[0])
        if column is None:
            errors.no_property(table.logical_name, parts[0])
        result.append((column, len(parts) == 2 and parts[1] == "desc"))
    return result


def _expand(table: Table, text: str) -> list[tuple[str, list[str] | None]]:
    result: list[tuple[str, list[str] | None]] = []
    for item in split_top_level(text):
        nav, _, rest = item.partition("(")
        nav = nav.strip()
        if nav not in table.navs:
            errors.no_property(table.logical_name, nav)
        select: list[str] | None = None
        if rest:
            inner = rest.rstrip(")")
            for option in inner.split(";"):
                name, _, value = option.partition("=")
                if name.strip() != "$select":
                    errors.query_error(
                        f"The nested query option '{name.strip()}' in $expand is not supported by this emulator."
                    )
                select = [v.strip() for v in value.split(",") if v.strip()]
        result.append((nav, select))
    return result


def make_skiptoken(page_number: int, payload: str, tracking: bool) -> str:
    inner = quote(f'<cookie page="{page_number - 1}" crmsync="{payload}" />', safe="")
    return f'<cookie pagenumber="{page_number}" pagingcookie="{inner}" istracking="{tracking}" />'


def parse_skiptoken(text: str) -> tuple[int, str]:
    match = _COOKIE.match(text.strip())
    inner = _INNER.search(unquote(unquote(match.group(2)))) if match else None
    if match is None or inner is None:
        errors.query_error("The $skiptoken value is not a valid paging cookie.")
    return int(match.group(1)), inner.group(1)


def link(api_root: str, path: str, pairs: list[tuple[str, str]]) -> str:
    """An absolute link with `$` kept literal, as Dataverse writes its nextLink/deltaLink."""
    query = "&".join(f"{key}={quote(value, safe=_LINK_SAFE)}" for key, value in pairs)
    return f"{api_root}/{path}?{query}" if query else f"{api_root}/{path}"
