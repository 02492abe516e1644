"""Write docs/settings.md from the settings' own descriptions, so the two cannot drift.

python scripts/settings_doc.py          # rewrite docs/settings.md
python scripts/settings_doc.py --check  # exit 1 when docs/settings.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from partnercenter.core.settings import ENV_PREFIX, Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
SPECIAL_DEFAULTS = {
    "PARTNERCENTER_DATA_DIR": "the user data folder (`~/.local/share/partnercenter` on Linux)"
}

HEADER = """# Settings

Every setting is an environment variable named `PARTNERCENTER_…`. They may also be put, one
`NAME=value` per line, in a file named by `PARTNERCENTER_CONFIG_FILE`; the environment wins
over the file. `partnercenter settings` prints them with their current values, secrets
masked. This page is generated from the code by `scripts/settings_doc.py`.

| setting | default | meaning |
| --- | --- | --- |
"""

NOTES = """
## Notes

- **Secret key.** It derives the keys that encrypt API secret keys at rest and sign CSRF
  tokens. Every server, worker and CLI process of one installation needs the same value. When
  it is empty, the first process generates one and writes it to `secret_key` in the data folder
  (owner-only permissions); later processes read that file. Changing it makes stored API secret
  keys unreadable: issue new keys afterwards.
- **Database.** The default is a SQLite file in the data folder, which needs nothing installed
  and suits one server process. Production uses PostgreSQL 15 or newer through psycopg 3, e.g.
  `postgresql+psycopg://partnercenter:password@db.internal/partnercenter`.
- **Embedded worker.** With SQLite the worker runs as a thread of the server. With PostgreSQL,
  run `partnercenter worker` as its own process (one or more; they share the work).
- **Time.** Everything is stored in UTC; the console shows times in
  `PARTNERCENTER_DISPLAY_TIMEZONE` and counts calendar days (such as the daily invitation limit)
  in that zone.
"""


def render() -> str:
    # Read from the field declarations, not from an instance, so that the environment of
    # whoever runs this does not leak into the page.
    rows = []
    for field_name, field in Settings.model_fields.items():
        name = ENV_PREFIX + field_name.upper()
        value = (
            "" if field.repr is False else field.get_default(call_default_factory=False)
        )
        if name in SPECIAL_DEFAULTS:
            default = SPECIAL_DEFAULTS[name]
        elif value in ("", None):
            default = "empty"
        else:
            default = f"`{value}`"
        rows.append(f"| `{name}` | {default} | {field.description} |")
    return HEADER + "\n".join(rows) + "\n" + NOTES


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        return 0 if DOC.read_text(encoding="utf-8") == text else 1
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
