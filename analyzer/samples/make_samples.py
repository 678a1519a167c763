"""Regenerate the sample documents in this folder:  python -m analyzer.samples.make_samples

The samples are invented business documents (English and Japanese) that ship with DocPulse so a
new user can try it at once; labels.json holds their true field values for evaluation. Change
a value here and in labels.json together.

PDFs are drawn with reportlab. Japanese uses reportlab's built-in CID fonts (HeiseiKakuGo-W5,
HeiseiMin-W3): nothing is embedded, so the files stay a few KB, and any PDF viewer with a
Japanese font shows them (all desktop systems have one). `invariant=1` keeps the output
byte-identical from run to run.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

HERE = Path(__file__).resolve().parent
GOTHIC = "HeiseiKakuGo-W5"
MINCHO = "HeiseiMin-W3"
LEFT, RIGHT, TOP = 56.0, A4[0] - 56.0, A4[1] - 64.0


@dataclass
class Line:
    """One line of a page: text at x, or a row of cells at given x positions (right-aligned
    when the position is negative, measured from the right margin)."""

    text: str = ""
    size: float = 10.5
    font: str = "Helvetica"
    cells: Sequence[tuple[float, str]] = field(default_factory=tuple)
    gap: float = 0.0  # extra space before the line
    rule: bool = False  # a horizontal line under it


def _draw_pages(path: Path, pages: Sequence[Sequence[Line]], title: str) -> None:
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    pdf.setTitle(title)
    pdf.setAuthor("DocPulse samples")
    for number, lines in enumerate(pages, start=1):
        y = TOP
        for line in lines:
            y -= line.gap + line.size * 1.45
            pdf.setFont(line.font, line.size)
            if line.text:
                pdf.drawString(LEFT, y, line.text)
            for x, cell in line.cells:
                if x < 0:
                    pdf.drawRightString(RIGHT + x + 1, y, cell)
                else:
                    pdf.drawString(LEFT + x, y, cell)
            if line.rule:
                pdf.setLineWidth(0.5)
                pdf.line(LEFT, y - 4, RIGHT, y - 4)
        if len(pages) > 1:
            pdf.setFont(lines[0].font, 8)
            pdf.drawCentredString(A4[0] / 2, 30, f"{number} / {len(pages)}")
        pdf.showPage()
    pdf.save()


def _rows(font: str, rows: Sequence[Sequence[str]], columns: Sequence[float]) -> list[Line]:
    return [Line(font=font, cells=list(zip(columns, row, strict=True))) for row in rows]


# --- the documents ------------------------------------------------------------------------
def invoice_en() -> list[list[Line]]:
    b, r = "Helvetica-Bold", "Helvetica"
    cols = (0.0, 250.0, -90.0, -1.0)
    return [
        [
            Line("Northwind Office Supply Co.", 16, b),
            Line("1200 Harbor Blvd, Suite 400, Oakland, CA 94607, USA", 9, r),
            Line("billing@northwind-supply.example  ·  +1 510 555 0142", 9, r),
            Line("INVOICE", 20, b, gap=18),
            Line(font=r, cells=[(0, "Invoice No:"), (90, "NW-2024-0387")], gap=6),
            Line(font=r, cells=[(0, "Invoice Date:"), (90, "March 14, 2024")]),
            Line(font=r, cells=[(0, "Due Date:"), (90, "April 13, 2024 (Net 30)")]),
            Line("Bill To:", font=b, gap=12),
            Line("Lumen Analytics LLC, Attn: Accounts Payable", font=r),
            Line("88 Market Street, 9th Floor, San Francisco, CA 94105", font=r),
            Line(
                font=b,
                cells=list(zip(cols, ("Description", "Qty", "Unit price", "Amount"), strict=True)),
                gap=14,
                rule=True,
            ),
            *_rows(
                r,
                [
                    ("Ergonomic office chair, black", "4", "289.00", "1,156.00"),
                    ("Standing desk frame, dual motor", "2", "415.50", "831.00"),
                    ("A4 printer paper, box of 5 reams", "10", "32.40", "324.00"),
                    ("USB-C docking station", "3", "149.99", "449.97"),
                ],
                cols,
            ),
            Line(font=r, cells=[(250, "Subtotal"), (-1, "2,760.97")], gap=10),
            Line(font=r, cells=[(250, "Sales tax (8.25%)"), (-1, "227.78")]),
            Line(font=b, cells=[(250, "Total due (USD)"), (-1, "$2,988.75")], rule=True),
            Line(
                "Payment by ACH to First Pacific Bank, account 004-118-2290, routing 121000358.",
                9,
                r,
                gap=24,
            ),
            Line(
                "Please quote the invoice number with your payment. Thank you for your business!",
                9,
                r,
            ),
        ]
    ]


def invoice_ja() -> list[list[Line]]:
    g = GOTHIC
    cols = (0.0, 240.0, -100.0, -1.0)
    return [
        [
            Line(font=g, size=20, cells=[(200, "御 請 求 書")]),
            Line(font=g, cells=[(-1, "請求書番号：INV-SK-2024-0521")], gap=8),
            Line(font=g, cells=[(-1, "発行日：2024年5月21日")]),
            Line("株式会社ひかりデザイン 御中", 13, g, gap=6, rule=True),
            Line("下記のとおりご請求申し上げます。", font=g, gap=6),
            Line(font=g, cells=[(0, "ご請求金額（税込）"), (150, "￥489,500－")], size=13, gap=6),
            Line(font=g, cells=[(0, "お支払期限"), (150, "2024年6月30日")]),
            Line(font=g, cells=[(300, "株式会社さくら商事")], gap=4),
            Line(font=g, size=9, cells=[(300, "〒150-0002 東京都渋谷区渋谷2-15-1")]),
            Line(font=g, size=9, cells=[(300, "TEL 03-5555-0123")]),
            Line(font=g, size=9, cells=[(300, "登録番号 T1234567890123")]),
            Line(
                font=g,
                cells=list(zip(cols, ("品目", "数量", "単価", "金額"), strict=True)),
                gap=14,
                rule=True,
            ),
            *_rows(
                g,
                [
                    ("ウェブサイト改修（デザイン）", "1式", "180,000", "180,000"),
                    ("コーディング作業", "40時間", "6,000", "240,000"),
                    ("サーバー保守（5月分）", "1", "25,000", "25,000"),
                ],
                cols,
            ),
            Line(font=g, cells=[(240, "小計"), (-1, "445,000円")], gap=10),
            Line(font=g, cells=[(240, "消費税（10%）"), (-1, "44,500円")]),
            Line(font=g, cells=[(240, "合計"), (-1, "489,500円")], rule=True),
            Line("お振込先：さくら銀行 渋谷支店 普通 1234567 カ）サクラショウジ", 9, g, gap=24),
            Line("※振込手数料は貴社にてご負担くださいますようお願い申し上げます。", 9, g),
        ]
    ]


def letter_en() -> list[list[Line]]:
    r, b = "Times-Roman", "Times-Bold"
    body = [
        "Dear Mr. Osei,",
        "",
        "Thank you for your continued partnership with Greenfield Logistics. I am writing to",
        "confirm the changes to our delivery service for Brightwater Foods that we discussed",
        "at our meeting on 24 January.",
        "",
        "From 1 March 2024, deliveries to your Leeds and York sites will move to two fixed",
        "windows, 06:00-09:00 and 13:00-16:00, which will let our drivers avoid the morning",
        "congestion that caused most of last quarter's late arrivals.",
        "",
        "Because fuel and driver costs have risen, our per-pallet rates will increase by 3%",
        "on the same date. All other terms of our agreement remain unchanged, and the rates",
        "will then be fixed until 28 February 2025.",
        "",
        "To make the transition smooth, Ms. Sarah Lin will be your dedicated account manager",
        "(sarah.lin@greenfield-logistics.example, 0113 555 0199).",
        "",
        "I would be grateful if you could confirm your agreement by 16 February 2024.",
        "",
        "Yours sincerely,",
        "",
        "",
        "Eleanor Hughes",
        "Head of Customer Operations, Greenfield Logistics Ltd",
    ]
    return [
        [
            Line("Greenfield Logistics Ltd", 15, b),
            Line("Unit 7, Aire Valley Park, Leeds LS9 0PS, United Kingdom", 9, r),
            Line("2 February 2024", font=r, gap=18),
            Line("Mr. Daniel Osei", font=r, gap=10),
            Line("Procurement Manager, Brightwater Foods plc", font=r),
            Line("14 Wharf Road, York YO1 6AB", font=r),
            Line("Re: Revised delivery schedule and rates from 1 March 2024", font=b, gap=14),
            *[Line(text, font=r, gap=2) for text in ["", *body]],
        ]
    ]


def report_en() -> list[list[Line]]:
    r, b = "Helvetica", "Helvetica-Bold"
    cols = (0.0, 220.0, 320.0, -1.0)
    page1 = [
        Line("Q2 2024 Customer Support Report", 17, b),
        Line(
            "Lumen Analytics LLC · Prepared by Maria Gonzalez, Support Operations · July 8, 2024",
            9,
            r,
        ),
        Line("1. Summary", 12, b, gap=16),
        *[
            Line(t, font=r)
            for t in (
                "Ticket volume grew 12% over Q1 to 4,812 tickets, driven by the May release of the",
                "reporting module. Despite the growth, the team cut the median first response time",
                "from 3.1 hours to 2.4 hours and reduced the open backlog by 38%.",
                "Customer satisfaction (CSAT) rose to 91%, the highest since we began measuring.",
            )
        ],
        Line("2. Key figures", 12, b, gap=14),
        Line(
            font=b,
            cells=list(zip(cols, ("Metric", "Q1 2024", "Q2 2024", "Change"), strict=True)),
            rule=True,
        ),
        *_rows(
            r,
            [
                ("Tickets received", "4,296", "4,812", "+12%"),
                ("Median first response", "3.1 h", "2.4 h", "-23%"),
                ("Open backlog (end of quarter)", "612", "380", "-38%"),
                ("CSAT", "87%", "91%", "+4 pts"),
            ],
            cols,
        ),
        Line("3. What drove the results", 12, b, gap=14),
        *[
            Line(t, font=r)
            for t in (
                "- A new triage rota routes billing questions straight to the finance desk.",
                "- Twenty help-centre articles were rewritten for the reporting module.",
                "- Weekend coverage was extended to six hours on Saturdays.",
            )
        ],
    ]
    page2 = [
        Line("4. Risks", 12, b),
        *[
            Line(t, font=r)
            for t in (
                "Two agents leave in August. Without replacements, we expect first response times",
                "to return above 3 hours by October, when the Q4 release ships.",
            )
        ],
        Line("5. Recommendations", 12, b, gap=14),
        *[
            Line(t, font=r)
            for t in (
                "1. Hire two support agents before September 1.",
                "2. Launch the self-service portal planned for Q3, which should deflect about 15%",
                "   of how-to tickets.",
                "3. Keep the Saturday coverage through the Q4 release.",
            )
        ],
    ]
    return [page1, page2]


def report_ja() -> list[list[Line]]:
    g, m = GOTHIC, MINCHO
    cols = (0.0, 200.0, 300.0, -1.0)
    page1 = [
        Line("2024年7月度 営業月報", 17, g),
        Line("東日本営業部　作成：佐藤 健太　2024年8月5日", 9, g, gap=2),
        Line("1. 概況", 12, g, gap=16),
        *[
            Line(t, font=m)
            for t in (
                "7月度の売上高は1億2,300万円となり、前年同月比6.5%増となった。",
                "新規取引先は18社を獲得し、特に北関東地区の食品メーカーからの受注が伸びた。",
                "一方、物流コストの上昇により営業利益率は前月から0.8ポイント低下した。",
            )
        ],
        Line("2. 主要指標", 12, g, gap=14),
        Line(
            font=g,
            cells=list(zip(cols, ("指標", "6月", "7月", "前年同月比"), strict=True)),
            rule=True,
        ),
        *_rows(
            m,
            [
                ("売上高", "1億1,500万円", "1億2,300万円", "+6.5%"),
                ("新規取引先数", "11社", "18社", "+5社"),
                ("営業利益率", "9.4%", "8.6%", "-0.8pt"),
            ],
            cols,
        ),
    ]
    page2 = [
        Line("3. 課題", 12, g),
        *[
            Line(t, font=m)
            for t in (
                "運送会社各社の値上げにより、配送費が前年同月比で12%増加している。",
                "小口配送の比率が高い顧客について、まとめ発注の提案が必要である。",
            )
        ],
        Line("4. 来月の施策", 12, g, gap=14),
        *[
            Line(t, font=m)
            for t in (
                "・9月の「フードテック東京2024」への出展準備を完了する。",
                "・小口配送の多い上位20社に対し、月2回のまとめ配送を提案する。",
                "・新規取引先18社への訪問フォローを8月末までに実施する。",
            )
        ],
    ]
    return [page1, page2]


LETTER_JA_PARAGRAPHS = [
    "2024年9月1日",
    "お取引先各位",
    "株式会社あおば出版",
    "営業部長　田中 一郎",
    "価格改定のお知らせ",
    "拝啓　初秋の候、貴社ますますご清栄のこととお慶び申し上げます。平素は格別のご高配を賜り、"
    "厚く御礼申し上げます。",
    "さて、昨今の用紙価格および印刷・物流費の高騰により、弊社では経費削減に努めてまいりましたが、"
    "現行価格の維持が困難な状況となりました。",
    "つきましては、誠に不本意ながら、2024年10月1日出荷分より、弊社刊行物の定価を平均8%改定させて"
    "いただくこととなりました。なお、定期購読のお客様につきましては、現在のご契約期間中は従来価格に"
    "据え置きいたします。",
    "何卒事情をご賢察のうえ、ご理解を賜りますようお願い申し上げます。",
    "敬具",
]
LETTER_JA_TABLE = [
    ["区分", "現行価格", "新価格（10月1日出荷分から）"],
    ["月刊「あおばビジネス」", "1,200円", "1,300円"],
    ["単行本（平均）", "1,800円", "1,940円"],
]
LETTER_JA_CONTACT = (
    "お問い合わせ先：営業部 田中（電話 03-5555-0456　メール sales@aoba-pub.example）"
)

CONTRACT_EN = """\
SOFTWARE MAINTENANCE AGREEMENT

This Software Maintenance Agreement (the "Agreement") is made on June 20, 2024 between:

  Lumen Analytics LLC, 88 Market Street, San Francisco, CA 94105 (the "Customer"), and
  Kestrel Software Services Inc., 410 Pine Avenue, Portland, OR 97204 (the "Provider").

1. Term
   This Agreement starts on July 1, 2024 and runs for twelve (12) months. It renews for further
   twelve-month periods unless either party gives written notice at least sixty (60) days
   before the end of the current term.

2. Services
   The Provider maintains the Customer's "Beacon" reporting platform: security updates, bug
   fixes and up to 20 hours per month of minor changes requested by the Customer.

3. Service levels
   The Provider guarantees 99.5% monthly availability of the production system. Critical
   incidents are answered within 1 hour, 24 hours a day; other requests within 1 business day.
   For each full 0.1% below the guaranteed availability, the Customer receives a credit of 5%
   of that month's fee, up to 50%.

4. Fees and payment
   The Customer pays a fixed fee of USD 1,500 per month, invoiced monthly in advance and
   payable within 30 days. Work beyond the included hours is billed at USD 120 per hour.

5. Confidentiality
   Each party keeps the other's confidential information secret during the term and for three
   (3) years after it ends.

6. Termination
   Either party may terminate this Agreement for material breach that remains uncured thirty
   (30) days after written notice.

7. Governing law
   This Agreement is governed by the laws of the State of California.

Signed for Lumen Analytics LLC:          Signed for Kestrel Software Services Inc.:
Priya Raman, Chief Operating Officer     Tom Becker, Managing Director
"""


def write_letter_ja_docx(path: Path) -> None:
    from docx import Document
    from docx.shared import Pt

    document = Document()
    document.core_properties.author = "DocPulse samples"
    for index, text in enumerate(LETTER_JA_PARAGRAPHS):
        paragraph = document.add_paragraph(text)
        if index == 4:  # the subject line
            paragraph.runs[0].bold = True
            paragraph.runs[0].font.size = Pt(14)
    table = document.add_table(rows=len(LETTER_JA_TABLE), cols=3)
    table.style = "Table Grid"
    for r, row in enumerate(LETTER_JA_TABLE):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("")
    document.add_paragraph(LETTER_JA_CONTACT)
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_stable_zip(buffer.getvalue()))


def _stable_zip(data: bytes) -> bytes:
    """Same content, fixed timestamps: regenerating the samples changes no bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "docProps/core.xml":
                content = _fixed_core_dates(content)
            stable = zipfile.ZipInfo(info.filename, date_time=(2024, 9, 1, 9, 0, 0))
            stable.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(stable, content)
    return out.getvalue()


def _fixed_core_dates(xml: bytes) -> bytes:
    import re

    return re.sub(
        rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2024-09-01T09:00:00Z", xml
    )


def write_samples(folder: Path = HERE) -> list[Path]:
    """Write every sample into `folder`; return their paths."""
    for font in (GOTHIC, MINCHO):
        if font not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(font))
    pdfs = {
        "invoice_northwind_en.pdf": (invoice_en(), "Invoice NW-2024-0387"),
        "invoice_sakura_ja.pdf": (invoice_ja(), "御請求書 INV-SK-2024-0521"),
        "letter_greenfield_en.pdf": (letter_en(), "Revised delivery schedule"),
        "report_support_q2_en.pdf": (report_en(), "Q2 2024 Customer Support Report"),
        "report_sales_july_ja.pdf": (report_ja(), "2024年7月度 営業月報"),
    }
    for name, (pages, title) in pdfs.items():
        _draw_pages(folder / name, pages, title)
    write_letter_ja_docx(folder / "letter_aoba_price_ja.docx")
    (folder / "contract_kestrel_en.txt").write_text(CONTRACT_EN, encoding="utf-8")
    return sorted(
        folder / name for name in [*pdfs, "letter_aoba_price_ja.docx", "contract_kestrel_en.txt"]
    )


def main() -> None:
    for path in write_samples():
        print(f"{path.name:32} {path.stat().st_size:>7,} bytes")


if __name__ == "__main__":
    main()
