"""Keep the zh-CN translation catalogues in step with the source.

Each area of the package (``core``, ``identity``, ``members``, ``web``, …) has its own
catalogue, ``src/partnercenter/locale/zh_CN/LC_MESSAGES/<area>.po``; files directly in the
package go to ``main.po``. Running this script adds new messages (with an empty translation),
keeps existing translations and drops messages no longer used. ``--check`` changes nothing and
exits 1 when a message is missing or untranslated.

    python scripts/catalogues.py          # update the catalogues
    python scripts/catalogues.py --check  # what the test suite checks
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "partnercenter"
CATALOGUES = PACKAGE / "locale" / "zh_CN" / "LC_MESSAGES"
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {
    "**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}
}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
SKIP_AREAS = {"locale", "migrations", "__pycache__", "static"}


def _is_area(path: Path) -> bool:
    return (
        path.is_dir() and path.name not in SKIP_AREAS and not path.name.startswith(".")
    )


def areas() -> list[str]:
    """``main``, every folder of the package, and every sub-package inside those folders.

    A sub-package (a folder with ``__init__.py``, e.g. ``customers/intake``) has its own
    catalogue ``customers.intake.po`` and is left out of its parent's.
    """
    found = ["main"]
    for path in sorted(PACKAGE.iterdir()):
        if not _is_area(path):
            continue
        found.append(path.name)
        found.extend(
            f"{path.name}.{sub.name}"
            for sub in sorted(path.iterdir())
            if _is_area(sub) and (sub / "__init__.py").exists()
        )
    return found


def messages(area: str) -> Iterator[tuple[str | tuple[str, ...], str, int]]:
    if area == "main":
        for path in sorted(PACKAGE.glob("*.py")):
            for lineno, message, _comments, _context in extract_from_file(
                "python", str(path), keywords=KEYWORDS
            ):
                yield message, path.name, lineno
        return
    folder = PACKAGE.joinpath(*area.split("."))
    own_subpackages = {
        sub.name
        for sub in folder.iterdir()
        if _is_area(sub) and (sub / "__init__.py").exists()
    }

    def keep(path: str) -> bool:
        relative = Path(path).relative_to(folder)
        return not relative.parts or relative.parts[0] not in own_subpackages

    for filename, lineno, message, _comments, _context in extract_from_dir(
        folder, METHOD_MAP, OPTIONS, keywords=KEYWORDS, directory_filter=keep
    ):
        yield message, f"{area.replace('.', '/')}/{filename}", lineno


def source_catalogue(area: str) -> Catalog:
    catalogue = Catalog(locale="zh_CN", project="partnercenter", fuzzy=False)
    for message, location, lineno in messages(area):
        flags = ("python-format",) if "%(" in str(message) else ()
        catalogue.add(message, None, locations=[(location, lineno)], flags=flags)
    return catalogue


def load(path: Path) -> Catalog:
    if not path.exists():
        return Catalog(locale="zh_CN", project="partnercenter", fuzzy=False)
    with path.open("rb") as handle:
        return read_po(handle, locale="zh_CN")


def untranslated(area: str) -> list[str]:
    existing = load(CATALOGUES / f"{area}.po")
    missing = []
    for message in source_catalogue(area):
        if not message.id:
            continue
        found = existing.get(message.id)
        strings = found.string if found else None
        ok = all(strings) if isinstance(strings, tuple | list) else bool(strings)
        if found is None or not ok or found.fuzzy:
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def conflicts() -> dict[str, dict[str, str]]:
    """Messages translated differently in two catalogues.

    The catalogues are merged into one at start, so the same English text can only have one
    translation; which one would win is an accident of file order.
    """
    seen: dict[str, dict[str, str]] = {}
    for path in sorted(CATALOGUES.glob("*.po")):
        for message in load(path):
            if not message.id or not message.string:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            text = (
                message.string if isinstance(message.string, str) else message.string[0]
            )
            seen.setdefault(key, {})[path.stem] = text
    return {key: found for key, found in seen.items() if len(set(found.values())) > 1}


def update(area: str) -> None:
    path = CATALOGUES / f"{area}.po"
    source = source_catalogue(area)
    if not any(m.id for m in source):
        if path.exists():
            path.unlink()
        return
    existing = load(path)
    existing.update(source, no_fuzzy_matching=True)
    existing.obsolete.clear()
    CATALOGUES.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, existing, width=100, omit_header=False, sort_output=False)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        missing = {area: untranslated(area) for area in areas()}
        missing = {area: ids for area, ids in missing.items() if ids}
        for area, ids in missing.items():
            for message_id in ids:
                print(f"{area}.po: untranslated: {message_id!r}")  # noqa: T201
        clashes = conflicts()
        for message_id, found in clashes.items():
            print(f"translated differently: {message_id!r}: {found}")  # noqa: T201
        return 1 if missing or clashes else 0
    for area in areas():
        update(area)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
