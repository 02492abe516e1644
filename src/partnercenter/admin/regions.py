"""Business regions a partner can be registered in, by ISO 3166 code.

The list is the set the vendor's console offers; a region outside it (kept from older data) is
shown by its code.
"""

from __future__ import annotations

from partnercenter.core.i18n import N_, Translator

REGIONS: dict[str, str] = {
    "CN": N_("Chinese mainland"),
    "HK": N_("Hong Kong, China"),
    "MO": N_("Macao, China"),
    "SG": N_("Singapore"),
    "MY": N_("Malaysia"),
    "TH": N_("Thailand"),
    "ID": N_("Indonesia"),
    "PH": N_("Philippines"),
    "VN": N_("Vietnam"),
    "JP": N_("Japan"),
    "KR": N_("South Korea"),
    "AE": N_("United Arab Emirates"),
    "SA": N_("Saudi Arabia"),
    "TR": N_("Türkiye"),
    "EG": N_("Egypt"),
    "ZA": N_("South Africa"),
    "KE": N_("Kenya"),
    "NG": N_("Nigeria"),
    "BR": N_("Brazil"),
    "MX": N_("Mexico"),
    "CL": N_("Chile"),
    "PE": N_("Peru"),
    "AR": N_("Argentina"),
    "DE": N_("Germany"),
    "FR": N_("France"),
    "GB": N_("United Kingdom"),
    "IE": N_("Ireland"),
}


def normalise_region(code: str | None) -> str:
    return (code or "").strip().upper()


def is_known_region(code: str | None) -> bool:
    return normalise_region(code) in REGIONS


def region_name(code: str | None, tr: Translator) -> str:
    """The region's name in the reader's language, or its code when the list lacks it."""
    key = normalise_region(code)
    if key in REGIONS:
        return tr.gettext(REGIONS[key])
    return key


def region_choices(tr: Translator) -> list[tuple[str, str]]:
    """(code, name) pairs in list order, for a select."""
    return [(code, f"{tr.gettext(name)} ({code})") for code, name in REGIONS.items()]
