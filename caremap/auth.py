"""Who is calling: an API token (`Authorization: Bearer cm_…`) or a signed session cookie.

Starlette's AuthenticationMiddleware runs `CaremapAuth` once per request and puts the `Actor`
(or an anonymous user) on `request.user`; the domain services decide what that actor may do.
"""

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    UnauthenticatedUser,
)
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from caremap.accounts import service as accounts
from caremap.accounts.models import User
from caremap.settings import Settings

SESSION_COOKIE = "caremap_session"


class SessionCookies:
    """Signs session ids into cookie values and reads them back."""

    def __init__(self, settings: Settings) -> None:
        self._serializer = URLSafeTimedSerializer(str(settings.secret_key), salt="caremap-session")
        self.max_age = settings.session_max_hours * 3600
        self.secure = settings.https

    def dump(self, session_id: str) -> str:
        return self._serializer.dumps(session_id)

    def load(self, value: str) -> str | None:
        try:
            session_id = self._serializer.loads(value, max_age=self.max_age)
        except BadSignature:
            return None
        return session_id if isinstance(session_id, str) else None

    def set(self, response: Response, session_id: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.dump(session_id),
            max_age=self.max_age,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, samesite="lax", secure=self.secure, path="/"
        )


class CaremapAuth(AuthenticationBackend):
    def __init__(self, settings: Settings) -> None:
        self.cookies = SessionCookies(settings)
        self.idle_minutes = settings.session_idle_minutes

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        authorization = conn.headers.get("authorization")
        if authorization:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise AuthenticationError("Use 'Authorization: Bearer <token>'.")
            actor = await accounts.token_actor(secret=secret.strip())
            if actor is None:
                raise AuthenticationError("The API token is not valid or was revoked.")
            return AuthCredentials(["authenticated", "token"]), actor
        cookie = conn.cookies.get(SESSION_COOKIE)
        session_id = self.cookies.load(cookie) if cookie else None
        if session_id:
            user = await accounts.session_user(
                session_id=session_id, idle_minutes=self.idle_minutes
            )
            if user is not None:
                # The pages' header names the person; it was read with the session.
                conn.scope.setdefault("state", {})["viewer_name"] = user.name
                return AuthCredentials(["authenticated", "session"]), accounts.actor_for(user)
        return AuthCredentials(), UnauthenticatedUser()


def auth_error(conn: HTTPConnection, error: Exception) -> Response:
    return JSONResponse(
        {"error": "unauthenticated", "message": str(error)},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def signed_in(request: Request) -> bool:
    """Whether a person signed in made this request (a session), rather than an API token."""
    return "session" in request.auth.scopes


async def sign_in(request: Request, response: Response, user: User) -> None:
    """Start a session for `user` on `response`, ending the browser's previous one."""
    cookies: SessionCookies = request.app.state.session_cookies
    old = cookies.load(request.cookies.get(SESSION_COOKIE, ""))
    if old:
        await accounts.end_session(session_id=old)
    session_id = await accounts.start_session(
        user=user, max_hours=request.app.state.settings.session_max_hours
    )
    cookies.set(response, session_id)


async def sign_out(request: Request, response: Response) -> None:
    cookies: SessionCookies = request.app.state.session_cookies
    session_id = cookies.load(request.cookies.get(SESSION_COOKIE, ""))
    if session_id:
        await accounts.end_session(session_id=session_id)
    cookies.clear(response)
