"""What the header of every signed-in page shows: who is signed in, a way to sign out, and how
many of their referrals have activity they have not opened.

An ASGI middleware inside the authentication one, so it knows the actor; it looks these up only
for pages (not the API, static files or the HSDS API), and leaves them in `request.state` for
the templates (`caremap.templating.forms_context`).
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from caremap.accounts.models import User
from caremap.security import API_PREFIXES
from directory.actor import Actor
from referrals.inbox import unread_count

NOT_PAGES = (*API_PREFIXES, "/static/", "/healthz")


class SignedInHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        actor = scope.get("user")
        if (
            scope["type"] == "http"
            and isinstance(actor, Actor)
            and not scope["path"].startswith(NOT_PAGES)
        ):
            state = scope.setdefault("state", {})
            if "viewer_name" not in state:  # signed in with a session, it is there already
                names = await User.filter(id=actor.user_id).values_list("name", flat=True)
                state["viewer_name"] = names[0] if names else ""
            state["unread"] = await unread_count(actor)
        await self.app(scope, receive, send)
