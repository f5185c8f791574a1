"""``python -m handgrad.teaching --update-doc docs/derivation.md``: regenerate the document's generated block."""

from __future__ import annotations

import sys

from .derive import update_document


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--update-doc":
        print("usage: python -m handgrad.teaching --update-doc docs/derivation.md", file=sys.stderr)
        return 2
    print("updated" if update_document(argv[1]) else "unchanged", argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
