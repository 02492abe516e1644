"""Fill translations of a catalogue from a JSON object ``{msgid: msgstr}``.

A plural message takes a list of forms (zh-CN has one). Prints what is still missing.

    python scripts/fill_translations.py src/partnercenter/locale/zh_CN/LC_MESSAGES/web.po t.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def main(po_path: str, json_path: str) -> int:
    translations = json.loads(Path(json_path).read_text(encoding="utf-8"))
    with Path(po_path).open("rb") as handle:
        catalogue = read_po(handle, locale="zh_CN")
    for message in catalogue:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in translations:
            value = translations[key]
            message.string = tuple(value) if isinstance(message.id, tuple) else value
            message.flags.discard("fuzzy")
    with Path(po_path).open("wb") as handle:
        write_po(handle, catalogue, width=100)

    missing = [
        message.id
        for message in catalogue
        if message.id
        and not (
            all(message.string) if isinstance(message.string, tuple) else message.string
        )
    ]
    for message_id in missing:
        print(f"still untranslated: {message_id!r}")  # noqa: T201
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
