"""Built-in field sets, usable by name wherever a schema file is."""

from __future__ import annotations

from analyzer.schema.fields import Schema

_CURRENCIES = ["JPY", "USD", "EUR", "GBP", "CNY", "KRW", "other"]

PRESETS: dict[str, Schema] = {
    "summary": Schema.from_dict(
        {
            "fields": [
                {"name": "title", "type": "text", "description": "the document's title or subject"},
                {"name": "summary", "type": "text", "description": "two or three sentences"},
                {
                    "name": "language",
                    "type": "text",
                    "description": "main language, e.g. English, Japanese",
                },
                {
                    "name": "document_type",
                    "type": "enum",
                    "choices": ["invoice", "letter", "report", "contract", "other"],
                    "description": "what kind of document it is",
                },
                {
                    "name": "key_points",
                    "type": "list",
                    "description": "the main facts, a few words each",
                },
            ]
        },
        name="summary",
    ),
    "invoice": Schema.from_dict(
        {
            "fields": [
                {
                    "name": "vendor",
                    "type": "text",
                    "description": "company that issued the invoice",
                },
                {
                    "name": "invoice_number",
                    "type": "text",
                    "description": "the invoice's number or ID",
                },
                {
                    "name": "invoice_date",
                    "type": "date",
                    "description": "date the invoice was issued",
                },
                {"name": "due_date", "type": "date", "description": "payment due date"},
                {
                    "name": "currency",
                    "type": "enum",
                    "choices": _CURRENCIES,
                    "description": "currency of the amounts",
                },
                {"name": "subtotal", "type": "number", "description": "amount before tax"},
                {"name": "tax", "type": "number", "description": "tax amount"},
                {
                    "name": "total_amount",
                    "type": "number",
                    "description": "invoice total incl. tax",
                },
            ]
        },
        name="invoice",
    ),
    "contract": Schema.from_dict(
        {
            "fields": [
                {"name": "title", "type": "text", "description": "the contract's title"},
                {
                    "name": "parties",
                    "type": "list",
                    "description": "names of the contracting parties",
                },
                {
                    "name": "effective_date",
                    "type": "date",
                    "description": "date the contract takes effect",
                },
                {"name": "term", "type": "text", "description": "duration, e.g. 12 months"},
                {"name": "total_value", "type": "number", "description": "total contract value"},
                {
                    "name": "currency",
                    "type": "enum",
                    "choices": _CURRENCIES,
                    "description": "currency of the value",
                },
                {
                    "name": "governing_law",
                    "type": "text",
                    "description": "jurisdiction whose law applies",
                },
                {
                    "name": "termination_notice",
                    "type": "text",
                    "description": "notice needed to terminate",
                },
                {"name": "auto_renewal", "type": "boolean", "description": "renews automatically?"},
            ]
        },
        name="contract",
    ),
}
