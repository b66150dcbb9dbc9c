"""What a page's map needs besides its points: the tiles, their credit, and its words.

The maps (`static/map.js`) are drawn in the browser with Leaflet; its controls get their titles
from here, in the page's language, so no English is left on a page in another language.
"""

from collections.abc import Callable
from typing import Any

from caremap.settings import Settings


def map_data(
    settings: Settings,
    gettext: Callable[[str], str],
    points: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "points": points,
        "tiles": settings.map_tiles_url,
        "attribution": settings.map_attribution,
        "zoom_in": gettext("Zoom in"),
        "zoom_out": gettext("Zoom out"),
        **extra,
    }
