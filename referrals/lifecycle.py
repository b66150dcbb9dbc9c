"""The referral lifecycle: the one table of allowed moves and who may make each.

Statuses follow the HL7 FHIR Task statuses used for closed-loop social-care referrals. Only the
receiving partner moves a referral through its work; only the referrer cancels; an admin may
correct any move in the table.
"""

from dataclasses import dataclass
from enum import StrEnum

from referrals.models import ReferralStatus as S


class Party(StrEnum):
    RECEIVER = "receiver"  # staff of the organization that runs the service
    REFERRER = "referrer"  # staff of the school organization that made the referral


@dataclass(frozen=True)
class Move:
    by: Party
    needs_reason: bool = False
    needs_outcome: bool = False

    def allows(self, party: Party | None) -> bool:
        """Whether a side may make this move (None: an admin, who may correct any move)."""
        return party is None or self.by is party


REJECTION_REASONS = ("not_eligible", "no_capacity", "out_of_area", "could_not_contact", "other")
OUTCOMES = (
    "service_provided",
    "partially_provided",
    "family_declined",
    "could_not_reach",
    "not_eligible_after_intake",
    "referred_elsewhere",
)
# Closing is honest: "completed" means the service was delivered, fully or in part; any other
# outcome closes the referral without service ("failed").
DELIVERED = ("service_provided", "partially_provided")
OUTCOMES_FOR = {
    S.COMPLETED: DELIVERED,
    S.FAILED: tuple(outcome for outcome in OUTCOMES if outcome not in DELIVERED),
}
FINAL = frozenset({S.COMPLETED, S.FAILED, S.REJECTED, S.CANCELLED})
WAITING = (S.REQUESTED, S.RECEIVED)  # sent, and the partner has not taken it on yet
WORKING = (S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD)  # the partner has it
ENDED = (S.COMPLETED, S.FAILED)  # the partner worked it to an outcome

TRANSITIONS: dict[tuple[S, S], Move] = {
    (S.DRAFT, S.REQUESTED): Move(Party.REFERRER),
    (S.DRAFT, S.CANCELLED): Move(Party.REFERRER),
    (S.REQUESTED, S.RECEIVED): Move(Party.RECEIVER),
    (S.REQUESTED, S.ACCEPTED): Move(Party.RECEIVER),
    (S.REQUESTED, S.REJECTED): Move(Party.RECEIVER, needs_reason=True),
    (S.REQUESTED, S.CANCELLED): Move(Party.REFERRER),
    (S.RECEIVED, S.ACCEPTED): Move(Party.RECEIVER),
    (S.RECEIVED, S.REJECTED): Move(Party.RECEIVER, needs_reason=True),
    (S.RECEIVED, S.CANCELLED): Move(Party.REFERRER),
    (S.ACCEPTED, S.IN_PROGRESS): Move(Party.RECEIVER),
    (S.ACCEPTED, S.ON_HOLD): Move(Party.RECEIVER),
    (S.ACCEPTED, S.FAILED): Move(Party.RECEIVER, needs_outcome=True),
    (S.ACCEPTED, S.CANCELLED): Move(Party.REFERRER),
    (S.IN_PROGRESS, S.ON_HOLD): Move(Party.RECEIVER),
    (S.IN_PROGRESS, S.COMPLETED): Move(Party.RECEIVER, needs_outcome=True),
    (S.IN_PROGRESS, S.FAILED): Move(Party.RECEIVER, needs_outcome=True),
    (S.IN_PROGRESS, S.CANCELLED): Move(Party.REFERRER),
    (S.ON_HOLD, S.IN_PROGRESS): Move(Party.RECEIVER),
    (S.ON_HOLD, S.FAILED): Move(Party.RECEIVER, needs_outcome=True),
    (S.ON_HOLD, S.CANCELLED): Move(Party.REFERRER),
}


def allowed_from(status: S) -> list[str]:
    return [to.value for (frm, to) in TRANSITIONS if frm == status]


def moves_for(status: S, party: Party | None) -> list[str]:
    """The moves from `status` that `party` may make: the buttons a referral page offers."""
    return [
        to.value for (frm, to), move in TRANSITIONS.items() if frm == status and move.allows(party)
    ]
