"""The Jinja2 environment for caremap's pages: templates, the language helpers and filters."""

import functools
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time, get_day_names
from jinja2 import pass_context
from markupsafe import Markup, escape
from starlette.datastructures import QueryParams, URLPath
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from caremap.i18n import bcp47, template_context, text_direction
from directory.http import actor_of
from directory.taxonomy import BY_CODE

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


def forms_context(request: Request) -> dict[str, Any]:
    """`csrftoken()`: the value every form POSTs back (checked by asgi-csrf, caremap.security),
    `viewer`: the signed-in actor, if any (for the header and the "Refer" buttons), and the
    header's name and unread count (`caremap.header`)."""
    state = request.scope.get("state", {})
    return {
        "csrftoken": request.scope.get("csrftoken", lambda: ""),
        "viewer": actor_of(request) if "user" in request.scope else None,
        "viewer_name": state.get("viewer_name", ""),
        "unread": state.get("unread", 0),
    }


templates = Jinja2Templates(
    directory=HERE / "templates", context_processors=[template_context, forms_context]
)


@pass_context
def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URLPath:
    """Starlette's `url_for` as a path on this site (`/static/caremap.css`): a page's links and
    assets need no host, so none comes from the request's Host header (addresses that leave
    the site, such as a share link, are made from `BASE_URL` by `absolute_url`). Each route
    lookup is remembered by the app: finding a name walks every route (each miss raising an
    exception), a real share of a page's time."""
    request: Request = context["request"]
    state = request.app.state
    paths: dict[tuple[Any, ...], URLPath] | None = getattr(state, "url_paths", None)
    if paths is None or len(paths) >= URL_PATHS_KEPT:
        paths = state.url_paths = {}
    key = (name, *sorted(path_params.items()))
    path = paths.get(key)
    if path is None:
        path = paths[key] = request.app.url_path_for(name, **path_params)
    return path


def absolute_url(request: Request, path: str) -> str:
    """An address on this site made from `BASE_URL`, never from the request's Host header,
    which whoever sends the request chooses."""
    return request.app.state.settings.base_url.rstrip("/") + path


URL_PATHS_KEPT = 4096


templates.env.globals["url_for"] = url_for


def replace_param(params: QueryParams | str, name: str, value: object) -> str:
    """The current query string with one parameter set (pager and language links); chains,
    as it takes the string it returns."""
    params = QueryParams(params) if isinstance(params, str) else params
    items = [(k, v) for k, v in params.multi_items() if k != name]
    return urlencode([*items, (name, str(value))])


def language_name(code: str, display_in: str = "en") -> str:
    try:
        return Locale.parse(code).get_display_name(display_in) or code
    except (UnknownLocaleError, ValueError):
        return code


def day_names(byday: str | None, language: str = "en") -> str:
    """`MO,TU,WE` as the language's short day names ("Mon, Tue, Wed"); every day if empty."""
    if not byday:
        return ""
    names = get_day_names("abbreviated", locale=language)
    order = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    return ", ".join(names[order.index(d)] for d in byday.split(",") if d in order)


def weekday_time(moment: datetime, language: str = "en") -> str:
    """ "Tue 09:00" in the language, in the moment's own time zone."""
    return format_datetime(moment, "EEE HH:mm", tzinfo=moment.tzinfo, locale=language)


def category_name(code: str, language: str = "en") -> str:
    """A category code as its name in the language (`food-pantry` -> "Food pantry")."""
    category = BY_CODE.get(code)
    return category.name_in(language) if category else code


def _moment(context: dict[str, Any], value: str | datetime) -> datetime:
    """A stored moment in the district's time zone (`TIME_ZONE`)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    zone = ZoneInfo(context["request"].app.state.settings.time_zone)
    return moment.astimezone(zone)


@pass_context
def local_date(context: dict[str, Any], value: str | datetime, language: str = "en") -> str:
    """A date as people of the language write it, in the district's time zone."""
    return _written_date(_moment(context, value).date(), language)


@functools.lru_cache(maxsize=4096)
def _written_date(day: date, language: str) -> str:
    """Babel's formatting costs more than the rest of a list's row; a list repeats its days."""
    return format_date(day, "medium", locale=language)


@pass_context
def local_time(context: dict[str, Any], value: str | datetime, language: str = "en") -> str:
    """A date and time as people of the language write them, in the district's time zone."""
    moment = _moment(context, value)
    return (
        f"{format_date(moment, 'medium', locale=language)} "
        f"{format_time(moment, 'short', locale=language)}"
    )


def tel(number: str) -> str:
    """A phone number as a `tel:` link wants it: digits and a leading +, nothing else."""
    digits = "".join(c for c in number if c.isdigit())
    if number.strip().startswith("+"):
        return "+" + digits
    return "+1" + digits if len(digits) == 10 else digits


# The crisis lines: wherever a text names them, a tap calls them.
CRISIS_NUMBER = re.compile(r"(?<![\d-])(988|911)(?![\d-])")


def tap_to_call(text: str | None) -> Markup:
    """A text, escaped, with 988 and 911 made tap-to-call links."""
    escaped = escape(text or "")
    linked = CRISIS_NUMBER.sub(r'<a href="tel:\1">\1</a>', str(escaped))
    return Markup(linked)  # noqa: S704 (escaped above; only fixed markup is added)


@pass_context
def say(context: dict[str, Any], message: str | None) -> str:
    """A service's field message in the page's language (`caremap.form_messages`)."""
    return context["_"](message) if message else ""


templates.env.filters["say"] = say
templates.env.filters["tel"] = tel
templates.env.filters["tap_to_call"] = tap_to_call
templates.env.filters["category_name"] = category_name
templates.env.filters["local_date"] = local_date
templates.env.filters["local_time"] = local_time
templates.env.filters["weekday_time"] = weekday_time
templates.env.filters["replace_param"] = replace_param
templates.env.filters["day_names"] = day_names
templates.env.filters["language_name"] = language_name
templates.env.filters["bcp47"] = bcp47
templates.env.filters["text_direction"] = text_direction
