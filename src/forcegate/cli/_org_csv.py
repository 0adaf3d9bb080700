"""Reading the org ids of ``forcegate orgs import FILE.csv``.

The file is a CSV export, typically of the License Management App's licenses: the org-id column is
the one ``--column`` names, else the first whose header reads like an org id (``Org ID``,
``Organization ID``, ``Subscriber Org ID``, ``sfLma__Subscriber_Org_ID__c`` …), else — when the first
row is an org id itself — the first column of a file without a header. Ids are 15 or 18 characters;
empty cells are skipped (a license not installed yet has none); anything else that is not an org id
refuses the whole file, naming its line.
"""

from __future__ import annotations

import csv
import io
import re

from forcegate.core import ids
from forcegate.errors import InvalidInput, InvalidSalesforceId

__all__ = ["read_org_ids"]

_HEADER = re.compile(r"(?:subscriber)?(?:org|organization)id(?:c)?")


def _normal(header: str) -> str:
    return re.sub(r"[^a-z]", "", header.lower().removeprefix("\ufeff").replace("sflma__", ""))


def _column(header: list[str], wanted: str | None) -> int | None:
    names = [_normal(cell) for cell in header]
    if wanted is not None:
        if _normal(wanted) not in names:
            raise InvalidInput(f"no column {wanted!r} in the header ({', '.join(header)[:200]})")
        return names.index(_normal(wanted))
    return next((i for i, name in enumerate(names) if _HEADER.fullmatch(name)), None)


def read_org_ids(text: str, *, column: str | None = None) -> tuple[list[str], int]:
    """The canonical (18-character) org ids in the CSV ``text``, in file order, duplicates kept out,
    and how many rows had an empty cell."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise InvalidInput("the file is empty")
    index = _column(header, column)
    first_line = 2
    if index is None:
        if header and ids.is_valid(header[0].strip().removeprefix("\ufeff")):
            index, first_line = 0, 1  # no header: the first column holds the ids
            rows = csv.reader(io.StringIO(text))
        else:
            raise InvalidInput("no org-id column found: name it with --column (e.g. --column 'Organization ID')")
    found: dict[str, None] = {}
    empty = 0
    for line, row in enumerate(rows, start=first_line):
        cell = row[index].strip().removeprefix("\ufeff") if index < len(row) else ""
        if not cell:
            empty += 1
            continue
        try:
            found.setdefault(ids.validate(cell, prefix=ids.ORG_PREFIX))
        except InvalidSalesforceId:
            raise InvalidInput(f"line {line}: {cell[:40]!r} is not an org id (15 or 18 characters, 00D…)") from None
    return list(found), empty
