"""Account rules: creating users, checking passwords, sessions and API tokens.

Passwords are hashed with argon2. Sessions live in the database so logout, idle timeout and
rotation on login are real; the browser holds only a signed, random session id. API tokens are
random secrets shown once and stored as SHA-256 hashes.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from caremap.accounts.models import ApiToken, User, UserSession
from directory import access, text
from directory.actor import Actor, Role
from directory.editing import Change
from directory.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from directory.models import Organization, OrganizationKind
from directory.service import Page

MIN_PASSWORD_LENGTH = 12
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,4})?")
TOKEN_PREFIX = "cm_"  # noqa: S105 (a prefix, not a secret)
TOKEN_ROLES = (Role.PARTNER, Role.PARTNER_ADMIN, Role.ADMIN)
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, used to keep login timing even")
# Which kind of organization each role belongs to; admins may sit in either.
ROLE_ORGANIZATION_KINDS = {
    Role.SPECIALIST: (OrganizationKind.SCHOOL,),
    Role.PARTNER: (OrganizationKind.PROVIDER,),
    Role.PARTNER_ADMIN: (OrganizationKind.PROVIDER,),
    Role.ADMIN: (OrganizationKind.SCHOOL, OrganizationKind.PROVIDER),
}


def _now() -> datetime:
    return datetime.now(UTC)


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.id, organization_id=user.organization_id, role=Role(user.role))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_user(
    *,
    email: str,
    name: str,
    password: str,
    role: str,
    organization_id: UUID | str | None,
    language: str = "en",
    actor: Actor | None = None,
    by_system: bool = False,
) -> User:
    """Create a user. The CLI and seed loader pass `by_system`; over HTTP an admin must act."""
    if not by_system:
        access.require_admin(actor)
    errors: dict[str, str] = {}
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        errors["email"] = str(error)
    if not name.strip() or len(name) > 200:
        errors["name"] = "required, up to 200 characters"
    elif wrong := text.problem(name):
        errors["name"] = wrong
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if not isinstance(language, str) or not LANGUAGE_CODE.fullmatch(language):
        errors["language"] = "a language code such as en, es or zh-Hans"
    _role, organization_id, placement = await _role_in_organization(role, organization_id)
    errors.update(placement)
    if errors:
        raise Invalid(errors)
    try:
        return await User.create(
            id=uuid4(),
            email=email,
            name=name.strip(),
            password_hash=_hasher.hash(password),
            role=Role(role),
            organization_id=organization_id,
            language=language,
        )
    except IntegrityError:
        raise Conflict("A user with that email already exists.") from None


async def invite_user(
    *,
    actor: Actor | None,
    email: str,
    name: str,
    role: str,
    organization_id: UUID | str | None,
    language: str = "en",
) -> User:
    """An admin adds a person without choosing their password: the account starts with a
    random one nobody knows, and the person sets their own through a one-time link
    (`caremap.accounts.password_links`)."""
    return await create_user(
        actor=actor,
        email=email,
        name=name,
        password=secrets.token_urlsafe(32),
        role=role,
        organization_id=organization_id,
        language=language,
    )


async def reset_password(*, actor: Actor | None, user_id: UUID) -> User:
    """An admin ends a user's password: it is replaced by one nobody knows and every session
    and API token ends, so a lost or shared password stops working at once. The person then
    chooses a new one through a link."""
    actor = access.require_admin(actor)
    if actor.user_id == user_id:
        raise Forbidden("You cannot reset your own password here; ask another admin.")
    await set_password(user_id=user_id, password=secrets.token_urlsafe(32))
    return await User.get(id=user_id)


async def get_user(*, actor: Actor | None, user_id: UUID) -> User:
    access.require_admin(actor)
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def list_users(
    *,
    actor: Actor | None,
    words: str | None = None,
    role: str | None = None,
    organization_id: UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """Users for the admin area, by name, found by name or email, a page at a time."""
    access.require_admin(actor)
    query = User.all()
    if words:
        query = query.filter(Q(name__icontains=words) | Q(email__icontains=words))
    if role:
        if role not in {r.value for r in Role}:
            raise Invalid({"role": f"must be one of {', '.join(r.value for r in Role)}"})
        query = query.filter(role=role)
    if organization_id is not None:
        query = query.filter(organization_id=organization_id)
    total = await query.count()
    found = await query.order_by("name", "id").offset((page - 1) * per_page).limit(per_page)
    return Page(list(found), total, page, per_page)


async def _role_in_organization(
    role: str, organization_id: object
) -> tuple[Role | None, UUID | None, dict[str, str]]:
    """A user's role and organization, checked together (creating a user or changing one):
    the role exists, the organization exists, and that kind of organization has that role.
    Returns them with the errors found, by field."""
    errors: dict[str, str] = {}
    valid_role = Role(role) if role in {r.value for r in Role} else None
    if valid_role is None:
        errors["role"] = f"must be one of {', '.join(r.value for r in Role)}"
    try:
        valid_id: UUID | None = UUID(str(organization_id))
    except ValueError:
        valid_id = None
    organization = await Organization.get_or_none(id=valid_id) if valid_id else None
    if organization is None:
        errors["organization_id"] = "no such organization"
    elif valid_role is not None and organization.kind not in ROLE_ORGANIZATION_KINDS[valid_role]:
        errors["role"] = (
            f"a {valid_role.value} cannot belong to a {organization.kind.value} organization"
        )
    return valid_role, valid_id, errors


async def authenticate(*, email: str, password: str) -> User:
    """The user with these credentials, or `Unauthenticated` without saying which part was wrong."""
    email = email.strip().lower()
    user = await User.get_or_none(email=email, is_active=True) if len(email) <= 254 else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("The email or password is not right.") from None
    if user is None:
        raise Unauthenticated("The email or password is not right.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = _now()
    await user.save(update_fields=["password_hash", "last_login_at"])
    return user


async def set_password(*, user_id: UUID, password: str) -> None:
    """A new password signs the user out everywhere: sessions and API tokens alike."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid({"password": f"must be at least {MIN_PASSWORD_LENGTH} characters"})
    async with in_transaction():
        updated = await User.filter(id=user_id).update(password_hash=_hasher.hash(password))
        if not updated:
            raise NotFound("No such user.")
        await revoke_access(user_id)


async def revoke_access(user_id: UUID) -> None:
    """End everything that lets `user_id` act: every session and every API token it made.
    Called whenever what the user may do changes (password, role, organization, active)."""
    await UserSession.filter(user_id=user_id).delete()
    await ApiToken.filter(user_id=user_id, revoked_at=None).update(revoked_at=_now())


async def on_organization_change(changes: list[Change]) -> None:
    """Catalog change listener: when an organization's kind changes (an admin's decision), what
    its staff may do changes with it, so every session and token of its users ends."""
    for change in changes:
        if change.entity == "organization" and set(change.changed_fields or ()) & (
            access.ADMIN_ONLY_ORGANIZATION_FIELDS
        ):
            for user_id in await User.filter(organization_id=change.organization_id).values_list(
                "id", flat=True
            ):
                await revoke_access(user_id)


async def update_user(
    *,
    user_id: UUID,
    role: str | None = None,
    organization_id: UUID | str | None = None,
    active: bool | None = None,
    actor: Actor | None = None,
    by_system: bool = False,
) -> User:
    """Change a user's role, organization or whether they may sign in (admins, or the CLI).

    Any change ends the user's sessions and API tokens: what they carried was decided for the
    old role or organization.
    """
    if not by_system:
        access.require_admin(actor)
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("No such user.")
    new_role, new_organization_id, errors = await _role_in_organization(
        role if role is not None else user.role.value,
        organization_id if organization_id is not None else user.organization_id,
    )
    if actor is not None and actor.user_id == user.id:
        # An admin who demoted or moved themselves would lose the rights to undo it.
        raise Forbidden("You cannot change your own account's access; ask another admin.")
    if errors:
        raise Invalid(errors)
    changes = {
        "role": new_role,
        "organization_id": new_organization_id,
        "is_active": user.is_active if active is None else active,
    }
    if all(getattr(user, name) == value for name, value in changes.items()):
        return user
    async with in_transaction():
        await User.filter(id=user.id).update(**changes)
        await revoke_access(user.id)
    return await User.get(id=user.id)


# --- sessions ---------------------------------------------------------------------------------


async def start_session(*, user: User, max_hours: int) -> str:
    """A fresh session id: every login gets a new one, so a planted id is never promoted."""
    now = _now()
    session = await UserSession.create(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=max_hours),
    )
    return session.id


async def session_user(*, session_id: str, idle_minutes: int) -> User | None:
    """The active user behind a live session; expired or idle sessions are deleted."""
    session = await UserSession.get_or_none(id=session_id).select_related("user")
    if session is None:
        return None
    now = _now()
    if session.expires_at <= now or session.last_seen_at + timedelta(minutes=idle_minutes) <= now:
        await session.delete()
        return None
    if not session.user.is_active:
        return None
    if now - session.last_seen_at > timedelta(minutes=1):
        await UserSession.filter(id=session.id).update(last_seen_at=now)
    return session.user


async def end_session(*, session_id: str) -> None:
    await UserSession.filter(id=session_id).delete()


# --- API tokens -------------------------------------------------------------------------------


async def create_token(*, actor: Actor | None, name: str, signed_in: bool) -> tuple[ApiToken, str]:
    """A new API token for the actor. Only a person signed in (a session, `signed_in`) makes
    one: a token that could mint tokens would outlive its own revocation."""
    actor = access.require_actor(actor)
    if actor.role not in TOKEN_ROLES:
        raise Forbidden("API tokens are for partner agencies and admins.")
    if not signed_in:
        raise Forbidden("API tokens are made by a person signed in, not with another token.")
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise Invalid({"name": "required, up to 100 characters"})
    if wrong := text.problem(name):
        raise Invalid({"name": wrong})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = await ApiToken.create(
        id=uuid4(), user_id=actor.user_id, name=name, token_hash=hash_secret(secret)
    )
    return token, secret


async def token_actor(*, secret: str) -> Actor | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = await ApiToken.get_or_none(
        token_hash=hash_secret(secret), revoked_at=None
    ).select_related("user")
    if token is None:
        return None
    if not token.user.is_active:
        return None
    now = _now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return actor_for(token.user)


async def list_tokens(*, actor: Actor | None) -> list[ApiToken]:
    actor = access.require_actor(actor)
    if actor.role not in TOKEN_ROLES:
        raise Forbidden("API tokens are for partner agencies and admins.")
    return await ApiToken.filter(user_id=actor.user_id, revoked_at=None).order_by("-created_at")


async def revoke_token(*, actor: Actor | None, token_id: UUID) -> None:
    actor = access.require_actor(actor)
    token = await ApiToken.get_or_none(id=token_id, revoked_at=None)
    if token is None:
        raise NotFound("No such API token.")
    if token.user_id != actor.user_id and actor.role is not Role.ADMIN:
        raise Forbidden("You can revoke only your own API tokens.")
    await ApiToken.filter(id=token.id).update(revoked_at=_now())
