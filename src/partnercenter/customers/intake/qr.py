"""QR codes of invitation links, drawn as inline SVG so that no image library is needed."""

from __future__ import annotations

import re
from html import escape

import qrcode  # type: ignore[import-untyped]
import qrcode.image.svg  # type: ignore[import-untyped]
from markupsafe import Markup

_SIZE = re.compile(r'\s(width|height)="[^"]*"')


def svg(url: str, *, label: str, size: int = 160) -> Markup:
    """An SVG QR code of ``url``, ``size`` pixels wide (the console allows no inline
    styles, so the size is given as attributes)."""
    image = qrcode.make(
        url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2
    )
    drawing = str(image.to_string(encoding="unicode"))
    drawing = _SIZE.sub("", drawing, count=2)
    drawing = drawing.replace(
        "<svg ",
        f'<svg class="qr" role="img" aria-label="{escape(label)}" '
        f'width="{size}" height="{size}" ',
        1,
    )
    return Markup(drawing)  # noqa: S704 - drawn by qrcode from a URL we built
