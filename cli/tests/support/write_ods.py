"""Writes an OpenDocument spreadsheet for the backfill tests (odfpy).

Usage: write_ods.py OUT.ods < rows.json, where rows.json is a list of rows and each cell is
{"s": text}, {"n": number}, {"d": "YYYY-MM-DDTHH:MM:SS"} (a date cell) or null (empty).
"""

import json
import sys

from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P


def cell(value):
    if value is None:
        return TableCell()
    if "s" in value:
        c = TableCell(valuetype="string")
        c.addElement(P(text=value["s"]))
        return c
    if "n" in value:
        c = TableCell(valuetype="float", value=value["n"])
        c.addElement(P(text=str(value["n"])))
        return c
    c = TableCell(valuetype="date", datevalue=value["d"])
    c.addElement(P(text=value["d"]))
    return c


def main():
    rows = json.load(sys.stdin)
    doc = OpenDocumentSpreadsheet()
    table = Table(name="Historia")
    for row in rows:
        tr = TableRow()
        for value in row:
            tr.addElement(cell(value))
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    doc.save(sys.argv[1])


if __name__ == "__main__":
    main()
