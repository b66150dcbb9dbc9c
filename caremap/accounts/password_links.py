"""One-time links that let a person choose their password: an invitation to a new account, or a
reset an admin started.

The link carries the user's id and a fingerprint of their current password hash, signed with
the app's secret and dated. Nothing is stored: setting a password changes the hash, so the link
stops working once used, and a newer reset (a new hash) ends every older link. It expires after
`LINK_HOURS` whatever happens.
"""

import hashlib
from uuid import UUID

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from caremap.accounts.models import User
from directory.errors import Gone, NotFound

LINK_HOURS = 72
SALT = "caremap.password-link"
NOT_VALID = "This link is not valid. Ask your caremap admin for a new one."


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:20]


def make_token(secret: str, user: User) -> str:
    return _serializer(secret).dumps([str(user.id), _fingerprint(user.password_hash)])


async def user_for(secret: str, token: str) -> User:
    """The active user a link is for, while it is unused and not replaced by a newer one."""
    try:
        user_id, fingerprint = _serializer(secret).loads(token, max_age=LINK_HOURS * 3600)
        user = await User.get_or_none(id=UUID(user_id), is_active=True)
    except SignatureExpired:
        raise Gone("This link has expired. Ask your caremap admin for a new one.") from None
    except (BadSignature, ValueError, TypeError):
        raise NotFound(NOT_VALID) from None
    if user is None or _fingerprint(user.password_hash) != fingerprint:
        raise NotFound(NOT_VALID)
    return user
