"""Every message of the source has a zh-CN translation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "catalogues.py"


def _catalogues_module() -> object:
    spec = importlib.util.spec_from_file_location("catalogues", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestCatalogues:
    def test_every_message_is_translated_into_chinese(self) -> None:
        catalogues = _catalogues_module()
        missing = {
            area: catalogues.untranslated(area)  # type: ignore[attr-defined]
            for area in catalogues.areas()  # type: ignore[attr-defined]
        }
        missing = {area: ids for area, ids in missing.items() if ids}
        assert missing == {}, "run scripts/catalogues.py and translate: " + repr(
            missing
        )

    def test_a_message_has_the_same_translation_everywhere(self) -> None:
        catalogues = _catalogues_module()
        clashes = catalogues.conflicts()  # type: ignore[attr-defined]
        assert clashes == {}, "make these translations agree: " + repr(clashes)
