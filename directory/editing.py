"""Shared mechanics of catalog writes: optimistic locking, partial updates and change records.

Kept apart from the rules of each object so that every write (services, locations, phones,
schedules, service areas, organizations) locks, validates and records changes the same way.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from tortoise.expressions import F
from tortoise.models import Model

from directory.actor import SYSTEM, Actor
from directory.bulk import insert_rows
from directory.errors import Conflict, Invalid, NotFound
from directory.models import ListingChange, Service
from directory.schemas import InputModel, validate

ModelType = TypeVar("ModelType", bound=Model)


@dataclass(frozen=True, slots=True)
class Change:
    """What a change listener hears of a listing change: the `ListingChange` row's values
    (`id` is None for changes written in bulk, see `record_changes`)."""

    organization_id: UUID
    service_id: UUID | None
    entity: str
    entity_id: UUID
    action: str
    changed_fields: list[str]
    id: int | None = None


ChangeListener = Callable[[list[Change]], Awaitable[None]]
_change_listeners: list[ChangeListener] = []


def listen_to_changes(listener: ChangeListener) -> None:
    """Run `listener` for every listing change, inside the change's transaction. It is given a
    list: one change from an edit, or many written together by an import.

    This is how the search outbox (and later the audit trail) see every catalog write without
    the catalog importing them: the composition package registers them at start-up.
    """
    if listener not in _change_listeners:
        _change_listeners.append(listener)


def stop_listening(listener: ChangeListener) -> None:
    if listener in _change_listeners:
        _change_listeners.remove(listener)


def now() -> datetime:
    return datetime.now(UTC)


MAX_VERSION = 2**31 - 1  # the database's integer column holds no more


def parse_version(value: Any) -> int:
    """The version a client says it edited, from a body field or an If-Match header."""
    if isinstance(value, str):
        value = value.strip().strip("W/").strip('"')
    if isinstance(value, bool) or value is None:
        raise Invalid({"version": "required: send the version you edited (or an If-Match header)"})
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise Invalid({"version": "must be a whole number"}) from None
    if not 1 <= version <= MAX_VERSION:
        raise Invalid({"version": f"must be from 1 to {MAX_VERSION}"})
    return version


async def get_or_404(model: type[ModelType], object_id: UUID, label: str) -> ModelType:
    found = await model.get_or_none(id=object_id)
    if found is None:
        raise NotFound(f"No {label} with id {object_id}.")
    return found


def merge_patch(
    schema: type[InputModel], current: dict[str, Any], patch: Any
) -> tuple[InputModel, list[str]]:
    """Apply a partial update to the current values and validate the whole result.

    Validating the merged record (not just the patch) keeps cross-field rules true, such as
    minimum_age <= maximum_age when only one of them is sent. Returns the validated input and the
    names of the fields whose values change.
    """
    if not isinstance(patch, dict):
        raise Invalid({"body": "must be a JSON object"})
    unknown = [key for key in patch if key not in schema.model_fields]
    if unknown:
        raise Invalid(dict.fromkeys(unknown, "unknown field"))
    validated = validate(schema, {**current, **patch})
    values = validated.values()
    changed = [key for key in patch if values.get(key) != current.get(key)]
    return validated, changed


def current_values(schema: type[InputModel], record: Model) -> dict[str, Any]:
    """The record's values for the fields the schema accepts, as the schema would take them."""
    values: dict[str, Any] = {}
    for key in schema.model_fields:
        if hasattr(record, key) and not key.endswith("_id"):
            value = getattr(record, key)
            values[key] = value.value if hasattr(value, "value") else value
    return values


async def update_versioned(
    model: type[Model], object_id: UUID, version: int, values: dict[str, Any], label: str
) -> int:
    """Write `values` only if the row is still at `version`; return the new version.

    A single conditional UPDATE, so two editors racing cannot both win: the loser gets 409 with
    the current version and re-reads.
    """
    updated = await model.filter(id=object_id, version=version).update(
        **values, version=F("version") + 1, updated_at=now()
    )
    if updated:
        return version + 1
    current = await model.get_or_none(id=object_id)
    if current is None:
        raise NotFound(f"No {label} with id {object_id}.")
    raise Conflict(
        f"This {label} was changed by someone else (now at version {current.version}); "
        "reload it and apply your change again.",
        current_version=current.version,
    )


async def delete_versioned(model: type[Model], object_id: UUID, version: int, label: str) -> None:
    deleted = await model.filter(id=object_id, version=version).delete()
    if deleted:
        return
    current = await model.get_or_none(id=object_id)
    if current is None:
        raise NotFound(f"No {label} with id {object_id}.")
    raise Conflict(
        f"This {label} was changed by someone else (now at version {current.version}).",
        current_version=current.version,
    )


# What a person may do to a listing that vouches for it (restarts its verification clock).
VOUCHING_ACTIONS = frozenset({"create", "update", "delete", "verify", "intake"})


async def record_change(
    *,
    actor: Actor | None,
    organization_id: UUID,
    entity: str,
    entity_id: UUID,
    action: str,
    service_id: UUID | None = None,
    changed_fields: list[str] | None = None,
) -> ListingChange:
    """Append to the listing history and tell the listeners. Call inside the write's
    transaction, so a failed listener undoes the write too.

    A person's edit of a listing or its parts vouches for it, the same as "still accurate":
    it restarts the verification clock and clears any stale mark or re-verification flag.
    Changes made by caremap itself (imports, geocoding, the freshness sweep) do not.
    """
    change = await ListingChange.create(
        organization_id=organization_id,
        service_id=service_id,
        entity=entity,
        entity_id=entity_id,
        action=action,
        changed_fields=changed_fields or [],
        actor_user_id=actor.user_id if actor else None,
    )
    if service_id and actor and actor != SYSTEM and action in VOUCHING_ACTIONS:
        await Service.filter(id=service_id).update(
            last_verified_at=change.created_at,
            last_verified_by=actor.user_id,
            stale_since=None,
            review_signals=None,
            review_requested_at=None,
        )
    heard = Change(
        organization_id, service_id, entity, entity_id, action, changed_fields or [], change.id
    )
    for listener in _change_listeners:
        await listener([heard])
    return change


async def record_changes(actor: Actor | None, changes: list[dict[str, Any]]) -> None:
    """Append many changes (their `ListingChange` fields) to the listing history at once, as an
    import does, and tell each listener of them together, so it does its work for all of them
    in a few queries.

    Only for changes that vouch for nothing (`action` "import"): the databases' bulk insert
    does not give the rows their ids back, and nothing here restarts verification clocks.
    """
    if vouching := {c["action"] for c in changes} & VOUCHING_ACTIONS:
        raise ValueError(f"record_changes is not for vouching actions: {sorted(vouching)}")
    rows = [{**c, "actor_user_id": actor.user_id if actor else None} for c in changes]
    await insert_rows(ListingChange, rows)
    if changes:
        heard = [Change(**c) for c in changes]
        for listener in _change_listeners:
            await listener(heard)
