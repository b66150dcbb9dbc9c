"""Sign-in, sign-out, the current user, users and API tokens over JSON."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from caremap import throttle
from caremap.accounts import service
from caremap.accounts.models import ApiToken, User
from caremap.auth import sign_in, sign_out, signed_in
from directory.access import require_actor
from directory.errors import Invalid
from directory.http import actor_of, read_json, read_json_object


def user_document(user: User) -> dict:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "organization_id": str(user.organization_id),
        "language": user.language,
        "active": user.is_active,
    }


def token_document(token: ApiToken) -> dict:
    return {
        "id": str(token.id),
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise Invalid({key: "required"})
    return value


async def login(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    user = await throttle.authenticate(request, _text(body, "email"), _text(body, "password"))
    response = JSONResponse(user_document(user))
    await sign_in(request, response, user)
    return response


async def logout(request: Request) -> Response:
    response = Response(status_code=204)
    await sign_out(request, response)
    return response


async def me(request: Request) -> JSONResponse:
    actor = require_actor(actor_of(request))
    return JSONResponse(user_document(await User.get(id=actor.user_id)))


async def create_user(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    user = await service.create_user(
        actor=actor_of(request),
        email=_text(body, "email"),
        name=_text(body, "name"),
        password=_text(body, "password"),
        role=_text(body, "role"),
        organization_id=body.get("organization_id"),
        language=body.get("language") or "en",
    )
    return JSONResponse(user_document(user), status_code=201)


async def update_user(request: Request) -> JSONResponse:
    """An admin changes a user's role, organization or `active`; the user is signed out
    everywhere (sessions and API tokens)."""
    body = await read_json_object(request)
    unknown = set(body) - {"role", "organization_id", "active"}
    if unknown:
        raise Invalid(dict.fromkeys(sorted(unknown), "unknown field"))
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise Invalid({"active": "true or false"})
    for name in ("role", "organization_id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise Invalid({name: "must be text"})
    user = await service.update_user(
        actor=actor_of(request),
        user_id=request.path_params["id"],
        role=body.get("role"),
        organization_id=body.get("organization_id"),
        active=active,
    )
    return JSONResponse(user_document(user))


async def list_tokens(request: Request) -> JSONResponse:
    tokens = await service.list_tokens(actor=actor_of(request))
    return JSONResponse({"contents": [token_document(t) for t in tokens]})


async def create_token(request: Request) -> JSONResponse:
    body = await read_json(request)
    name = body.get("name") if isinstance(body, dict) else None
    token, secret = await service.create_token(
        actor=actor_of(request), name=name, signed_in=signed_in(request)
    )
    return JSONResponse({**token_document(token), "token": secret}, status_code=201)


async def revoke_token(request: Request) -> Response:
    await service.revoke_token(actor=actor_of(request), token_id=request.path_params["id"])
    return Response(status_code=204)


routes = [
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
    Route("/users", create_user, methods=["POST"]),
    Route("/users/{id:uuid}", update_user, methods=["PATCH"]),
    Route("/tokens", list_tokens, methods=["GET"]),
    Route("/tokens", create_token, methods=["POST"]),
    Route("/tokens/{id:uuid}", revoke_token, methods=["DELETE"]),
]
