"""`python -m node.schema`: print the README's log-format and summary.json tables;
`python -m node.schema --readme README.md` writes them between the README's markers instead."""

import sys
from pathlib import Path

from node.schema.tables import BEGIN, END, markdown_tables

if sys.argv[1:2] == ["--readme"] and len(sys.argv) == 3:
    path = Path(sys.argv[2])
    text = path.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"node.schema: {path} has no {BEGIN.strip()!r} ... {END.strip()!r} markers")
    head, rest = text.split(BEGIN, 1)
    path.write_text(head + BEGIN + markdown_tables() + END + rest.split(END, 1)[1])
elif len(sys.argv) == 1:
    print(markdown_tables())
else:
    sys.exit("usage: python -m node.schema [--readme README.md]")
