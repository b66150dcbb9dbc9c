"""Account models: users, server-side sessions and API tokens (secrets stored only as hashes)."""

from tortoise import fields
from tortoise.models import Model

from directory.actor import Role


class User(Model):
    id = fields.UUIDField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=200)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=20)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="users", on_delete=fields.RESTRICT, db_index=True
    )
    is_active = fields.BooleanField(default=True)
    language = fields.CharField(max_length=10, default="en")
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "user_account"


class UserSession(Model):
    """A signed-in browser. The cookie carries the session id signed with the secret key."""

    id = fields.CharField(max_length=64, primary_key=True)
    user = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE, db_index=True
    )
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "user_session"


class ApiToken(Model):
    """A token for an agency system, shown once and kept only as its SHA-256."""

    id = fields.UUIDField(primary_key=True)
    user = fields.ForeignKeyField(
        "models.User", related_name="api_tokens", on_delete=fields.CASCADE, db_index=True
    )
    name = fields.CharField(max_length=100)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
