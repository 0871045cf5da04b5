"""Country names and variants ↔ ISO 3166-1 alpha-2 codes, from a bundled table (no network, no extra package)."""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from crmsync.mapping.text import clean_text
from crmsync.mapping.transform import Scalar
from crmsync.model.values import CanonicalValue

# code: the name written back to vendors first, then the variants people and CRMs use.
_TABLE = """
AE United Arab Emirates|UAE|U.A.E.
AR Argentina
AT Austria|Österreich
AU Australia
BE Belgium|Belgique|België
BG Bulgaria
BR Brazil|Brasil
CA Canada
CH Switzerland|Schweiz|Suisse|Svizzera
CL Chile
CN China|People's Republic of China|PRC|中国
CO Colombia
CY Cyprus
CZ Czechia|Czech Republic
DE Germany|Deutschland|Federal Republic of Germany
DK Denmark|Danmark
EE Estonia
EG Egypt
ES Spain|España|Espana
FI Finland|Suomi
FR France
GB United Kingdom|UK|U.K.|Great Britain|Britain|England|Scotland|Wales|Northern Ireland
GR Greece|Hellas
HK Hong Kong
HR Croatia|Hrvatska
HU Hungary|Magyarország
ID Indonesia
IE Ireland|Republic of Ireland|Éire
IL Israel
IN India|Bharat
IS Iceland
IT Italy|Italia
JP Japan|日本
KE Kenya
KR South Korea|Korea|Republic of Korea|Korea, Republic of
LT Lithuania
LU Luxembourg
LV Latvia
MA Morocco
MT Malta
MX Mexico|México
MY Malaysia
NG Nigeria
NL Netherlands|The Netherlands|Holland|Nederland
NO Norway|Norge
NZ New Zealand|Aotearoa
PE Peru|Perú
PH Philippines
PK Pakistan
PL Poland|Polska
PT Portugal
RO Romania
RS Serbia
RU Russia|Russian Federation
SA Saudi Arabia
SE Sweden|Sverige
SG Singapore
SI Slovenia
SK Slovakia
TH Thailand
TR Türkiye|Turkey|Turkiye
TW Taiwan
UA Ukraine
US United States|USA|U.S.A.|U.S.|US of A|United States of America|America
VN Vietnam|Viet Nam
ZA South Africa
"""

CountryOutput = Literal["name", "code"]


def _key(text: str) -> str:
    # Case, accents, dots and spacing do not distinguish countries ("U.S.A." = "usa", "Österreich" = "osterreich").
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(letters.replace(".", "").replace(",", " ").split())


def _build() -> tuple[dict[str, str], dict[str, str]]:
    names: dict[str, str] = {}
    lookup: dict[str, str] = {}
    for line in _TABLE.strip().splitlines():
        code, _, variants = line.partition(" ")
        spelled = variants.split("|")
        names[code] = spelled[0]
        lookup[_key(code)] = code
        for variant in spelled:
            lookup[_key(variant)] = code
    return names, lookup


COUNTRY_NAMES, _LOOKUP = _build()
"""ISO alpha-2 code → the English short name written to vendors."""


def country_code(value: Any) -> str | None:
    """The ISO code for a name, variant or code; an unknown country stays as its trimmed text."""
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    return _LOOKUP.get(_key(cleaned), cleaned)


def country(output: CountryOutput = "name") -> Scalar:
    def outbound(value: CanonicalValue) -> Any:
        text = str(value)
        return COUNTRY_NAMES.get(text, text) if output == "name" else text

    def check(value: CanonicalValue) -> str | None:
        return None if str(value) in COUNTRY_NAMES else f"{value!r} is not a country crmsync knows"

    return Scalar("country", country_code, outbound, check)
