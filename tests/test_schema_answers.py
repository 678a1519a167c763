"""What the model says → the row: lenient JSON, values coerced to their type, nothing invented."""

from __future__ import annotations

import pytest

from analyzer.schema import PRESETS, AnswerError, Schema, parse_answer

INVOICE = PRESETS["invoice"]


@pytest.mark.parametrize(
    "answer",
    [
        '{"vendor": "ACME", "total_amount": 1250000}',
        '```json\n{"vendor": "ACME", "total_amount": 1250000}\n```',
        'Sure! Here is the data:\n{"vendor": "ACME", "total_amount": 1250000,}\nHope it helps.',
        "{'vendor': 'ACME', 'total_amount': 1250000}",
        '{"Vendor": "ACME", "TOTAL_AMOUNT": "1,250,000円", "unknown_key": "dropped"}',
    ],
)
def test_json_is_found_however_the_model_wraps_it(answer: str) -> None:
    row = parse_answer(INVOICE, answer)
    assert row["vendor"] == "ACME"
    assert row["total_amount"] == 1250000
    assert list(row) == INVOICE.field_names
    assert row["invoice_date"] is None


def test_an_answer_cut_by_the_token_cap_still_gives_the_finished_fields() -> None:
    row = parse_answer(INVOICE, '{"vendor": "ACME", "invoice_number": "A-1", "tax": 10')
    assert row["vendor"] == "ACME" and row["invoice_number"] == "A-1"


@pytest.mark.parametrize("answer", ["The total is 42 euros.", "", "[1, 2, 3]"])
def test_prose_is_a_clear_error_not_a_made_up_row(answer: str) -> None:
    with pytest.raises(AnswerError, match="JSON object"):
        parse_answer(INVOICE, answer)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,250,000円", 1250000),
        ("¥1,250,000", 1250000),
        ("$1,234.50", 1234.5),
        ("1.234,50 €", 1234.5),
        ("125万円", 1250000),
        ("1億2,000万円", 120000000),
        ("１２，０００円", 12000),
        ("(1,000)", -1000),
        ("about 1,000 to 2,000", None),
        ("not stated", None),
        ("N/A", None),
        (True, None),
    ],
)
def test_amounts_are_coerced_or_left_empty(raw: object, expected: object) -> None:
    assert parse_answer(INVOICE, _answer(total_amount=raw))["total_amount"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-05", "2024-03-05"),
        ("2024/3/5", "2024-03-05"),
        ("2024年3月5日", "2024-03-05"),
        ("令和6年3月5日", "2024-03-05"),
        ("March 5th, 2024", "2024-03-05"),
        ("5 Mar 2024", "2024-03-05"),
        ("31/12/2024", "2024-12-31"),
        ("03/05/2024", None),  # US or European? Not ours to guess.
        ("2024-02-30", None),
        ("next Friday", None),
    ],
)
def test_dates_become_iso_or_empty(raw: str, expected: str | None) -> None:
    assert parse_answer(INVOICE, _answer(invoice_date=raw))["invoice_date"] == expected


def test_every_type_is_coerced() -> None:
    schema = Schema.from_dict(
        {
            "fields": [
                {"name": "count", "type": "integer"},
                {"name": "paid", "type": "boolean"},
                {"name": "tags", "type": "list"},
                {"name": "kind", "type": "enum", "choices": ["Invoice", "Letter"]},
                {"name": "note", "type": "text"},
            ]
        }
    )
    row = parse_answer(
        schema,
        '{"count": "3 pages", "paid": "はい", "tags": "a, b; b\\nc", "kind": "letter", '
        '"note": "  two   spaces  "}',
    )
    assert row == {
        "count": 3,
        "paid": True,
        "tags": ["a", "b", "c"],
        "kind": "Letter",
        "note": "two spaces",
    }
    row = parse_answer(
        schema, '{"count": "many", "paid": "maybe", "kind": "memo", "note": {"x": 1}}'
    )
    assert row == dict.fromkeys(schema.field_names)


def _answer(**values: object) -> str:
    import json

    return json.dumps(values, ensure_ascii=False)
