"""Closed-loop referrals: a specialist refers a family to a service, the partner works the case
and records the outcome, and every step lands on an append-only timeline."""
