"""Parses the documented SOQL subset into a small syntax tree, with MALFORMED_QUERY errors for the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from crmsync.emulators.salesforce.errors import SfError
from crmsync.emulators.salesforce.formats import parse_datetime

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?![\w.]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = frozenset(
    "select from where and or not in like includes excludes order by asc desc nulls first last limit offset "
    "null true false group having with for using".split()
)
DATE_LITERALS = frozenset(
    "YESTERDAY TODAY TOMORROW LAST_WEEK THIS_WEEK NEXT_WEEK LAST_MONTH THIS_MONTH NEXT_MONTH LAST_90_DAYS "
    "NEXT_90_DAYS THIS_YEAR LAST_YEAR NEXT_YEAR LAST_N_DAYS NEXT_N_DAYS N_DAYS_AGO".split()
)

ValueKind = Literal["string", "number", "bool", "null", "date", "datetime", "dateliteral"]


@dataclass(frozen=True, slots=True)
class Value:
    kind: ValueKind
    value: Any


@dataclass(frozen=True, slots=True)
class Comparison:
    path: tuple[str, ...]
    op: str  # = != < <= > >= like in notin includes excludes
    value: Value | tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Logical:
    op: Literal["and", "or", "not"]
    parts: tuple[Condition, ...]


Condition = Comparison | Logical


@dataclass(frozen=True, slots=True)
class OrderItem:
    path: tuple[str, ...]
    desc: bool
    nulls_first: bool


@dataclass(slots=True)
class Query:
    text: str
    fields: list[tuple[str, ...]] = field(default_factory=list)
    count: bool = False
    sobject: str = ""
    where: Condition | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def malformed(query: str, pos: int, message: str) -> SfError:
    column = pos + 1
    caret = " " * pos + "^"
    return SfError(400, "MALFORMED_QUERY", f"\n{query}\n{caret}\nERROR at Row:1:Column:{column}\n{message}")


def _tokenize(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if match is None:
            raise malformed(query, pos, f"unexpected token: '{query[pos]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _unquote(text: str, query: str, pos: int) -> str:
    out: list[str] = []
    i = 1
    while i < len(text) - 1:
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":
                out.append("\\" + nxt)  # kept escaped: only meaningful to LIKE
            else:
                raise malformed(
                    query, pos + i, f"Invalid string literal '{text}'. Illegal character sequence '\\{nxt}'"
                )
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.i = 0

    # ---- token helpers --------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "ident" and tok.text.lower() in words

    def error(self, message: str | None = None) -> SfError:
        tok = self.peek()
        if tok is None:
            return malformed(self.query, len(self.query), message or "unexpected end of query")
        return malformed(self.query, tok.pos, message or f"unexpected token: {tok.text}")

    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise self.error()
        self.i += 1

    def expect_punct(self, text: str) -> None:
        tok = self.peek()
        if tok is None or tok.text != text:
            raise self.error()
        self.i += 1

    def ident(self) -> _Tok:
        tok = self.peek()
        if tok is None or tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            raise self.error()
        self.i += 1
        return tok

    def integer(self) -> int:
        tok = self.peek()
        if tok is None or tok.kind != "number" or not tok.text.isdigit():
            raise self.error()
        self.i += 1
        return int(tok.text)

    # ---- grammar --------------------------------------------------------------------------------
    def parse(self) -> Query:
        q = Query(self.query)
        self.expect_kw("select")
        if self.kw("count") and self.peek(1) is not None and self.peek(1).text == "(":  # type: ignore[union-attr]
            self.i += 1
            self.expect_punct("(")
            self.expect_punct(")")
            q.count = True
        else:
            while True:
                tok = self.peek()
                if tok is not None and tok.text == "(":
                    raise self.error("parent-to-child subqueries are not supported by this emulator")
                name = self.ident()
                if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
                    raise malformed(self.query, name.pos, f"unsupported function: {name.text}")
                q.fields.append(tuple(name.text.split(".")))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.i += 1
                    continue
                break
        self.expect_kw("from")
        sobject = self.ident()
        if "." in sobject.text or ":" in sobject.text:
            raise malformed(self.query, sobject.pos, f"unexpected token: {sobject.text}")
        q.sobject = sobject.text
        if self.kw("where"):
            self.i += 1
            q.where = self.condition()
        if self.kw("order"):
            self.i += 1
            self.expect_kw("by")
            while True:
                path = tuple(self.ident().text.split("."))
                desc = False
                if self.kw("asc", "desc"):
                    desc = self.tokens[self.i].text.lower() == "desc"
                    self.i += 1
                nulls_first = not desc
                if self.kw("nulls"):
                    self.i += 1
                    if not self.kw("first", "last"):
                        raise self.error()
                    nulls_first = self.tokens[self.i].text.lower() == "first"
                    self.i += 1
                q.order.append(OrderItem(path, desc, nulls_first))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.i += 1
                    continue
                break
        if self.kw("limit"):
            self.i += 1
            q.limit = self.integer()
        if self.kw("offset"):
            self.i += 1
            q.offset = self.integer()
            if q.offset > 2000:
                raise SfError(400, "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.peek() is not None:
            raise self.error()
        return q

    def condition(self) -> Condition:
        """AND and OR cannot be mixed at one level without parentheses, as in SOQL."""
        first = self.unary()
        if not self.kw("and", "or"):
            return first
        op = self.tokens[self.i].text.lower()
        parts = [first]
        while self.kw("and", "or"):
            if self.tokens[self.i].text.lower() != op:
                raise self.error()
            self.i += 1
            parts.append(self.unary())
        return Logical(op, tuple(parts))  # type: ignore[arg-type]

    def unary(self) -> Condition:
        if self.kw("not"):
            self.i += 1
            return Logical("not", (self.unary(),))
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.i += 1
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = tuple(self.ident().text.split("."))
        tok = self.peek()
        if tok is None:
            raise self.error()
        if tok.kind == "op":
            self.i += 1
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(path, op, self.value())
        word = tok.text.lower() if tok.kind == "ident" else ""
        if word == "like":
            self.i += 1
            value = self.value()
            if value.kind != "string":
                raise self.error("LIKE needs a string literal")
            return Comparison(path, "like", value)
        if word == "not" and self.peek(1) is not None and self.peek(1).text.lower() == "in":  # type: ignore[union-attr]
            self.i += 2
            return Comparison(path, "notin", self.value_list())
        if word in {"in", "includes", "excludes"}:
            self.i += 1
            return Comparison(path, word, self.value_list())
        raise self.error()

    def value_list(self) -> tuple[Value, ...]:
        self.expect_punct("(")
        values = [self.value()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.i += 1
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Value:
        tok = self.peek()
        if tok is None:
            raise self.error()
        self.i += 1
        if tok.kind == "string":
            return Value("string", _unquote(tok.text, self.query, tok.pos))
        if tok.kind == "number":
            return Value("number", float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text))
        if tok.kind == "datetime":
            if parse_datetime(tok.text) is None:  # 2024-02-30T…, or out of range once in UTC
                self.i -= 1
                raise self.error()
            return Value("datetime", tok.text)
        if tok.kind == "date":
            return Value("date", tok.text)
        if tok.kind == "ident":
            word = tok.text.lower()
            if word == "null":
                return Value("null", None)
            if word in {"true", "false"}:
                return Value("bool", word == "true")
            name, _, n = tok.text.upper().partition(":")
            if name in DATE_LITERALS and (bool(n) == name.endswith("_N_DAYS") or (name == "N_DAYS_AGO" and n)):
                return Value("dateliteral", (name, int(n) if n else 0))
        self.i -= 1
        raise self.error()


def parse(query: str) -> Query:
    if not query.strip():
        raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(query).parse()
