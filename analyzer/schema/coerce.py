"""Model output → a value of the field's type, or None. Never an invented value.

The model's answer is untrusted text: "1,250,000円", "¥1.2M"?, "令和6年3月5日", "yes". Each
coercer accepts the common ways people (and models) write a value and returns None for anything
else, so a wrong guess shows up as an empty cell, not as a plausible-looking wrong number.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from analyzer.schema.fields import Field

MAX_TEXT_CHARS = 5_000
MAX_LIST_ITEMS = 50

_NULL_WORDS = frozenset(
    {"", "null", "none", "n/a", "na", "unknown", "not stated", "-", "—", "なし", "不明"}
)
_TRUE = frozenset({"true", "yes", "y", "1", "はい", "有", "あり", "真"})
_FALSE = frozenset({"false", "no", "n", "0", "いいえ", "無", "なし", "偽"})
_FULLWIDTH = str.maketrans("０１２３４５６７８９，．－＋", "0123456789,.-+")
_JP_UNITS = {"兆": 10**12, "億": 10**8, "万": 10**4, "千": 10**3}
_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925, "R": 2018, "H": 1988, "S": 1925}
_NUMBER_RUN = re.compile(r"\d(?:[\d,.' ]*\d)?")
_MONTHS = {
    m.lower(): i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        start=1,
    )
}


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULL_WORDS)


def coerce(item: Field, value: Any) -> Any:
    if is_null(value):
        return None
    converter = {
        "text": to_text,
        "number": to_number,
        "integer": to_integer,
        "date": to_date,
        "boolean": to_boolean,
        "list": to_list,
    }.get(item.type)
    if converter is not None:
        return converter(value)
    return to_choice(value, item.choices or [])


def to_text(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value if not is_null(v))
    elif isinstance(value, dict):
        return None
    text = " ".join(str(value).split())
    return text[:MAX_TEXT_CHARS] or None


def to_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if value == value and abs(value) != float("inf") else None
    if not isinstance(value, str):
        return None
    text = value.translate(_FULLWIDTH).strip()
    negative = text.startswith(("-", "−", "△", "▲")) or (
        text.startswith("(") and text.endswith(")")
    )
    unit_total = _japanese_units(text)
    if unit_total is not None:
        return -unit_total if negative else unit_total
    runs = list(_NUMBER_RUN.finditer(text))
    if len(runs) != 1:  # "1,000 to 2,000" or no number at all: not ours to pick
        return None
    digits = _normalise_separators(runs[0].group().replace(" ", "").replace("'", ""))
    if digits is None:
        return None
    suffix = text[runs[0].end() :].strip().lower()
    scale = 1_000 if suffix[:1] in ("k", "千") else 1_000_000 if suffix in ("m", "million") else 1
    number = float(digits) * scale * (-1 if negative else 1)
    return int(number) if number.is_integer() else number


def _normalise_separators(digits: str) -> str | None:
    """'1,250,000' → '1250000'; '1.234,50' → '1234.50'; '1,5' → '1.5'."""
    if "," in digits and "." in digits:
        if digits.rfind(",") > digits.rfind("."):  # European: 1.234,50
            digits = digits.replace(".", "").replace(",", ".")
        else:
            digits = digits.replace(",", "")
    elif "," in digits:
        groups = digits.split(",")
        if all(len(g) == 3 for g in groups[1:]):
            digits = digits.replace(",", "")
        elif len(groups) == 2:
            digits = digits.replace(",", ".")
        else:
            return None
    elif digits.count(".") > 1:
        groups = digits.split(".")
        if not all(len(g) == 3 for g in groups[1:]):
            return None
        digits = digits.replace(".", "")
    try:
        float(digits)
    except ValueError:
        return None
    return digits


def _japanese_units(text: str) -> int | None:
    """'125万円' → 1250000, '1億2,000万' → 120000000; None when there are no such units."""
    if not any(unit in text for unit in _JP_UNITS):
        return None
    total = 0
    found = False
    for amount, unit in re.findall(r"(\d[\d,.]*)\s*([兆億万千])", text):
        normalised = _normalise_separators(amount)
        if normalised is None:
            return None
        total += int(float(normalised) * _JP_UNITS[unit])
        found = True
    if not found:
        return None
    rest = re.sub(r"\d[\d,.]*\s*[兆億万千]", "", text)
    tail = re.search(r"\d[\d,]*", rest)
    if tail:
        total += int(tail.group().replace(",", ""))
    return total


def to_integer(value: Any) -> int | None:
    number = to_number(value)
    if number is None:
        return None
    return int(number) if float(number).is_integer() else round(number)


def to_boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def to_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        items = re.split(r"\s*(?:\n|;|、|・|,(?!\d{3}))\s*", value)
    elif isinstance(value, list | tuple):
        items = [to_text(v) or "" for v in value if not isinstance(v, dict)]
    else:
        items = [str(value)]
    cleaned = [" ".join(str(i).strip(" -•*").split()) for i in items]
    result = list(dict.fromkeys(i for i in cleaned if i and not is_null(i)))[:MAX_LIST_ITEMS]
    return result or None


def to_choice(value: Any, choices: list[str]) -> str | None:
    text = str(value).strip().lower()
    for choice in choices:
        if choice.lower() == text:
            return choice
    return None


def to_date(value: Any) -> str | None:
    if not isinstance(value, str | int):
        return None
    text = str(value).translate(_FULLWIDTH).strip()
    for parse in (_iso_like, _japanese_date, _english_date):
        result = parse(text)
        if result is not None:
            return result
    return None


def _valid(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _iso_like(text: str) -> str | None:
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?", text)
    if match:
        return _valid(*(int(g) for g in match.groups()))
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    return _valid(*(int(g) for g in match.groups())) if match else None


def _japanese_date(text: str) -> str | None:
    match = re.search(
        r"(令和|平成|昭和|[RHS])\s*(\d{1,2}|元)\s*[年.]\s*(\d{1,2})\s*[月.]\s*(\d{1,2})", text
    )
    if match:
        era, year, month, day = match.groups()
        return _valid(_ERAS[era] + (1 if year == "元" else int(year)), int(month), int(day))
    match = re.search(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日", text)
    return _valid(*(int(g) for g in match.groups())) if match else None


def _english_date(text: str) -> str | None:
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.replace(",", " "))
    words = cleaned.split()
    month_first = re.fullmatch(r"([A-Za-z]+)\.?\s+(\d{1,2})\s+(\d{4})", " ".join(words))
    if month_first and month_first.group(1)[:3].lower() in _MONTHS:
        return _valid(
            int(month_first.group(3)),
            _MONTHS[month_first.group(1)[:3].lower()],
            int(month_first.group(2)),
        )
    day_first = re.fullmatch(r"(\d{1,2})\s+([A-Za-z]+)\.?\s+(\d{4})", " ".join(words))
    if day_first and day_first.group(2)[:3].lower() in _MONTHS:
        return _valid(
            int(day_first.group(3)),
            _MONTHS[day_first.group(2)[:3].lower()],
            int(day_first.group(1)),
        )
    # 05/03/2024 is ambiguous (US vs. the rest): only accept it when one reading is impossible.
    numeric = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if numeric:
        first, second, year = (int(g) for g in numeric.groups())
        if first > 12 >= second:
            return _valid(year, second, first)
        if second > 12 >= first:
            return _valid(year, first, second)
    return None
