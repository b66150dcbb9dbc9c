"""Search bookkeeping: the outbox of listings to re-index, and searches that found nothing."""

from tortoise import fields
from tortoise.models import Model


class SearchOutbox(Model):
    """A listing whose search documents must be rebuilt. Written in the catalog write's
    transaction, deleted only after the search backend accepted the new documents."""

    id = fields.BigIntField(primary_key=True)
    service_id = fields.UUIDField(db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    attempts = fields.IntField(default=0)
    available_at = fields.DatetimeField(db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=300, null=True)

    class Meta:
        table = "search_outbox"


class UnmetSearch(Model):
    """A search that found nothing nearby: the need, where (ZIP only) and when, never who."""

    id = fields.BigIntField(primary_key=True)
    query = fields.CharField(max_length=100, default="")
    categories = fields.JSONField(default=list)
    postal_code = fields.CharField(max_length=5, null=True, db_index=True)
    radius_miles = fields.FloatField()
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "unmet_search"
