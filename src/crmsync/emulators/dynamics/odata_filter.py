"""The `$filter` subset: a tokenizer and recursive-descent parser compiled to a per-record predicate."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.schema import (
    SOURCE_CREATED,
    SOURCE_CREATED_BY,
    SOURCE_FIELD,
    SOURCE_ID,
    SOURCE_MODIFIED,
    SOURCE_MODIFIED_BY,
    SOURCE_VERSION,
    Column,
    Table,
)

Predicate = Callable[[StoredRecord], bool]
Getter = Callable[[StoredRecord], Any]

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w-])
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)(?![\w.])
  | (?P<name>[A-Za-z_][\w.]*(?:/[A-Za-z_][\w.]*)*)
  | (?P<punct>[(),\[\]=])
    )""",
    re.VERBOSE,
)
_COMPARE = {
    "eq": (operator.eq, "Equal"),
    "ne": (operator.ne, "NotEqual"),
    "gt": (operator.gt, "GreaterThan"),
    "ge": (operator.ge, "GreaterThanOrEqual"),
    "lt": (operator.lt, "LessThan"),
    "le": (operator.le, "LessThanOrEqual"),
}
_NUMERIC = frozenset({"Integer", "Picklist", "State", "Status", "BigInt", "Decimal", "Money", "Double"})
_TEXT = frozenset({"String", "Memo", "EntityName"})
_GUID = frozenset({"Uniqueidentifier", "Lookup", "Customer", "Owner"})
_MS_SOURCES = frozenset({SOURCE_CREATED, SOURCE_MODIFIED})


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str


@dataclass(slots=True)
class CompiledFilter:
    predicate: Predicate
    # A top-level `modifiedon gt/ge T` lets the query start from the store's change log.
    modified_since: tuple[int, bool] | None = None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            errors.query_error(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def getter(column: Column) -> Getter:
    source = column.source
    if source == SOURCE_FIELD:
        name = column.name
        return lambda record: record.fields.get(name)
    if source == SOURCE_ID:
        return lambda record: record.id
    if source == SOURCE_CREATED:
        return lambda record: record.created_ms
    if source == SOURCE_MODIFIED:
        return lambda record: record.modified_ms
    if source == SOURCE_VERSION:
        return lambda record: record.version
    if source == SOURCE_CREATED_BY:
        return lambda record: record.created_by
    if source == SOURCE_MODIFIED_BY:
        return lambda record: record.modified_by
    raise AssertionError(source)


def parse_datetime(text: str) -> datetime:
    """An OData datetime or date literal, as an aware UTC datetime."""
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.query_error(
            f"The DateTimeOffset text '{text}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?'."
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Parser:
    def __init__(self, table: Table, tokens: list[Token]) -> None:
        self.table = table
        self.tokens = tokens
        self.pos = 0
        self.modified_since: tuple[int, bool] | None = None

    # ---- token helpers ----------------------------------------------------------------------
    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            errors.query_error("Syntax error: the $filter expression ended unexpectedly.")
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            errors.query_error(f"Syntax error: expected '{text}' but found '{token.text}'.")

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "name" and token.text == word

    # ---- grammar ----------------------------------------------------------------------------
    def parse(self) -> CompiledFilter:
        predicate, top_level = self.parse_or(top=True)
        if self.peek() is not None:
            errors.query_error(f"Syntax error: unexpected '{self.peek().text}' in $filter.")  # type: ignore[union-attr]
        del top_level
        return CompiledFilter(predicate, self.modified_since)

    def parse_or(self, *, top: bool = False) -> tuple[Predicate, bool]:
        left, _ = self.parse_and(top=top)
        terms = [left]
        while self.at_word("or"):
            self.take()
            right, _ = self.parse_and(top=False)
            terms.append(right)
        if len(terms) == 1:
            return left, top
        if top:
            self.modified_since = None
        return (lambda record: any(term(record) for term in terms)), False

    def parse_and(self, *, top: bool) -> tuple[Predicate, bool]:
        first = self.parse_not(top=top)
        terms = [first]
        while self.at_word("and"):
            self.take()
            terms.append(self.parse_not(top=top))
        if len(terms) == 1:
            return first, top
        a_terms = tuple(terms)
        return (lambda record: all(term(record) for term in a_terms)), top

    def parse_not(self, *, top: bool) -> Predicate:
        if self.at_word("not"):
            self.take()
            inner = self.parse_not(top=False)
            return lambda record: not inner(record)
        return self.parse_primary(top=top)

    def parse_primary(self, *, top: bool) -> Predicate:
        token = self.peek()
        if token is None:
            errors.query_error("Syntax error: the $filter expression ended unexpectedly.")
        if token.text == "(":
            self.take()
            inner, _ = self.parse_or(top=False)
            self.expect(")")
            return inner
        if token.kind != "name":
            errors.query_error(f"Syntax error: unexpected '{token.text}' in $filter.")
        nxt = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if nxt is not None and nxt.text == "(":
            return self.parse_function()
        return self.parse_comparison(top=top)

    def column(self, name: str) -> Column:
        if "/" in name:
            errors.query_error(f"Filtering on the navigation path '{name}' is not supported by this emulator.")
        column = self.table.properties.get(name)
        if column is None:
            errors.no_property(self.table.logical_name, name)
        return column

    def parse_comparison(self, *, top: bool) -> Predicate:
        column = self.column(self.take().text)
        op_token = self.take()
        if op_token.text not in _COMPARE:
            errors.query_error(f"Syntax error: '{op_token.text}' is not a comparison operator.")
        compare, kind = _COMPARE[op_token.text]
        literal = self.take()
        value = self.literal(column, literal, kind)
        get = getter(column)
        if value is None:
            if op_token.text == "eq":
                return lambda record: get(record) is None
            if op_token.text == "ne":
                return lambda record: get(record) is not None
            return lambda record: False
        if (
            top
            and column.source == SOURCE_MODIFIED
            and op_token.text in ("gt", "ge")
            and isinstance(value, int)
            and self.modified_since is None
        ):
            self.modified_since = (value, op_token.text == "ge")
        if column.type in _TEXT:
            lowered = str(value).lower()

            def text_compare(record: StoredRecord) -> bool:
                current = get(record)
                return current is not None and compare(current.lower(), lowered)

            return text_compare

        def plain_compare(record: StoredRecord) -> bool:
            current = get(record)
            return current is not None and compare(current, value)

        return plain_compare

    def literal(self, column: Column, token: Token, kind: str) -> Any:  # noqa: RET503 (ends in a NoReturn error)
        edm = column.edm_type
        if token.kind == "name" and token.text == "null":
            return None
        if column.type in _TEXT:
            if token.kind != "str":
                self.incompatible(edm, token, kind)
            return token.text[1:-1].replace("''", "'")
        if column.type in _GUID:
            if token.kind != "guid":
                self.incompatible(edm, token, kind)
            return token.text.lower()
        if column.type == "Boolean":
            if token.kind != "name" or token.text not in ("true", "false"):
                self.incompatible(edm, token, kind)
            return token.text == "true"
        if column.type in _NUMERIC:
            if token.kind != "num":
                self.incompatible(edm, token, kind)
            number = token.text.rstrip("mMdDfFlL")
            return float(number) if any(c in number for c in ".eE") else int(number)
        if column.type in ("DateTime", "DateOnly"):
            if token.kind not in ("dt", "date"):
                self.incompatible(edm, token, kind)
            moment = parse_datetime(token.text)
            if column.source in _MS_SOURCES:
                return int(moment.timestamp() * 1000)
            return moment.date().isoformat() if column.type == "DateOnly" else iso_utc(moment)
        errors.query_error(f"Filtering on '{column.name}' is not supported.")

    def incompatible(self, edm: str, token: Token, kind: str) -> None:
        found = {
            "str": "Edm.String",
            "guid": "Edm.Guid",
            "num": "Edm.Int32",
            "dt": "Edm.DateTimeOffset",
            "date": "Edm.Date",
        }.get(token.kind, "Edm.Boolean" if token.text in ("true", "false") else token.text)
        errors.query_error(
            f"A binary operator with incompatible types was detected. Found operand types '{edm}' and "
            f"'{found}' for operator kind '{kind}'."
        )

    def parse_function(self) -> Predicate:  # noqa: RET503 (ends in a NoReturn error)
        name = self.take().text
        self.expect("(")
        if name in ("contains", "startswith", "endswith"):
            column = self.column(self.take().text)
            self.expect(",")
            token = self.take()
            self.expect(")")
            if column.type not in _TEXT:
                errors.query_error(f"No function signature for the function with name '{name}' matches the arguments.")
            if token.kind != "str":
                errors.query_error(f"No function signature for the function with name '{name}' matches the arguments.")
            needle = token.text[1:-1].replace("''", "'").lower()
            get = getter(column)
            if name == "contains":
                return lambda record: (v := get(record)) is not None and needle in v.lower()
            if name == "startswith":
                return lambda record: (v := get(record)) is not None and v.lower().startswith(needle)
            return lambda record: (v := get(record)) is not None and v.lower().endswith(needle)
        short = name.removeprefix("Microsoft.Dynamics.CRM.")
        if short in ("In", "NotIn", "Null", "NotNull"):
            return self.parse_crm_function(short)
        errors.query_error(f"An unknown function with name '{name}' was found.")

    def parse_crm_function(self, short: str) -> Predicate:
        args: dict[str, Any] = {}
        while True:
            key = self.take()
            self.expect("=")
            if self.peek() is not None and self.peek().text == "[":  # type: ignore[union-attr]
                self.take()
                values: list[Token] = []
                while self.peek() is not None and self.peek().text != "]":  # type: ignore[union-attr]
                    values.append(self.take())
                    if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                        self.take()
                self.expect("]")
                args[key.text] = values
            else:
                args[key.text] = self.take()
            token = self.take()
            if token.text == ")":
                break
            if token.text != ",":
                errors.query_error(f"Syntax error: unexpected '{token.text}' in function arguments.")
        prop = args.get("PropertyName")
        if not isinstance(prop, Token) or prop.kind != "str":
            errors.query_error(f"Microsoft.Dynamics.CRM.{short} requires a PropertyName string parameter.")
        column = self.column(prop.text[1:-1])
        get = getter(column)
        if short in ("Null", "NotNull"):
            want_null = short == "Null"
            return lambda record: (get(record) is None) == want_null
        raw = args.get("PropertyValues")
        if not isinstance(raw, list) or not raw:
            errors.query_error(f"Microsoft.Dynamics.CRM.{short} requires a non-empty PropertyValues list.")
        members = {self.in_value(column, token) for token in raw}
        negate = short == "NotIn"
        if column.type in _TEXT:
            return lambda record: ((v := get(record)) is not None and v.lower() in members) != negate
        return lambda record: ((v := get(record)) is not None and v in members) != negate

    def in_value(self, column: Column, token: Token) -> Any:
        text = token.text[1:-1].replace("''", "'") if token.kind == "str" else token.text
        if column.type in _TEXT:
            return text.lower()
        if column.type in _GUID:
            return text.lower()
        if column.type in _NUMERIC:
            try:
                return float(text) if "." in text else int(text)
            except ValueError:
                errors.query_error(f"The value '{text}' is not valid for {column.name}.")
        if column.type == "Boolean":
            return text.lower() == "true"
        return text


def compile_filter(table: Table, text: str) -> CompiledFilter:
    tokens = tokenize(text)
    if not tokens:
        errors.query_error("The $filter query option must not be empty.")
    return _Parser(table, tokens).parse()
