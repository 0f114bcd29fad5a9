"""One day's export of a shop `factor` times our sample's size, in the shop's own CSV layout.

The real day's lines are replicated `factor` times: copy 0 is the real day unchanged, copy k gets
new customer ids (`k * 100000 + id`, the real ids are 5 digits) and new invoice numbers (6 digits
after the real ones, a `C` cancellation stays one), so every copy is a different set of customers
placing different orders of the same products at the same times. With `variants` > 1 the shop also
sells more products: copy k buys variant k mod `variants` of each product (`variant_code`), so
the catalogue grows `variants` times. Lines are ordered by invoice time as the real exports are.
No randomness: the same day file always gives the same export.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from marketflow.profiles.settings import ProfileSettings

#: First synthetic invoice number: above every real one (536365..581587) and still 6 digits.
FIRST_INVOICE = 600_000
_CUSTOMER_STRIDE = 100_000
_INVOICE, _STOCK_CODE, _TIMESTAMP, _CUSTOMER = 0, 1, 4, 6


def variant_code(code: str, variant: int) -> str:
    """Variant `variant` (1, 2, ...) of a product: `V3_85123A`, a code the export's format accepts
    (`bench/scale` writes the same in SQL)."""
    return f"V{variant}_{code}"


def service_codes(codes: set[str]) -> set[str]:
    """Those of `codes` that are services (postage, fees, vouchers: `ProfileSettings.is_service`),
    which keep their code in every copy: a larger shop sells more products, not more kinds of postage."""
    import pandas as pd

    ordered = sorted(codes)
    return {code for code, service in zip(ordered, ProfileSettings().is_service(pd.Series(ordered, dtype=object))) if service}


def _customer(value: str, copy: int) -> str:
    """`17850.0` -> `317850.0` in copy 3 (the export's float-looking format kept); blank stays blank."""
    head, dot, tail = value.partition(".")
    return f"{copy * _CUSTOMER_STRIDE + int(head)}{dot}{tail}" if head.isdigit() else value


def scaled_day(real_day: bytes, factor: int, variants: int = 1) -> bytes:
    """The export of `real_day` (an Online Retail day file) replicated `factor` times under new
    customers and invoices, copy k buying variant k mod `variants` of each product (refused when
    the new invoice numbers would need a seventh digit)."""
    header, *lines = list(csv.reader(io.StringIO(real_day.decode("utf-8"), newline="")))
    invoices = sorted({line[_INVOICE].lstrip("C") for line in lines})
    services = service_codes({line[_STOCK_CODE] for line in lines})
    number = {invoice: index for index, invoice in enumerate(invoices)}
    if FIRST_INVOICE + factor * len(invoices) > 999_999:
        raise ValueError(f"{factor} copies of {len(invoices)} invoices do not fit in 6-digit invoice numbers")
    copies = []
    for copy in range(factor):
        for position, line in enumerate(lines):
            if copy:
                line = list(line)
                invoice = line[_INVOICE]
                prefix = "C" if invoice.startswith("C") else ""
                serial = FIRST_INVOICE + (copy - 1) * len(invoices) + number[invoice.lstrip("C")]
                line[_INVOICE] = f"{prefix}{serial}"
                line[_CUSTOMER] = _customer(line[_CUSTOMER], copy)
                if copy % variants and line[_STOCK_CODE] not in services:
                    line[_STOCK_CODE] = variant_code(line[_STOCK_CODE], copy % variants)
            copies.append((line[_TIMESTAMP], copy, position, line))
    copies.sort(key=lambda item: item[:3])
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(line for *_, line in copies)
    return out.getvalue().encode("utf-8")


def write_scaled_day(real_day: Path, factor: int, target: Path, variants: int = 1) -> int:
    """Write the scaled export of `real_day` to `target`; returns its number of lines."""
    content = scaled_day(real_day.read_bytes(), factor, variants)
    target.write_bytes(content)
    return content.count(b"\n") - 1
