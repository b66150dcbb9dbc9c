"""Which errors mean "the database cannot be reached" (answered with 503, not 500)."""

import asyncpg

from caremap.db import unreachable


def _raised_while_handling(first: BaseException, second: BaseException) -> BaseException:
    try:
        try:
            raise first
        except type(first):
            raise second  # noqa: B904 (the implicit context is what is being tested)
    except type(second) as error:
        return error


def test_a_lost_connection_and_what_it_causes_are_unreachable():
    assert unreachable(ConnectionRefusedError())
    assert unreachable(asyncpg.exceptions.CannotConnectNowError("shutting down"))
    # A rollback on the connection the server just closed fails with a plain InterfaceError.
    rollback = _raised_while_handling(
        asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle of operation"),
        asyncpg.exceptions.InterfaceError("the underlying connection is closed"),
    )
    assert unreachable(rollback)


def test_other_errors_stay_errors():
    assert not unreachable(ValueError("a bug"))
    assert not unreachable(asyncpg.exceptions.InterfaceError("another operation is in progress"))
    assert not unreachable(_raised_while_handling(KeyError("x"), RuntimeError("y")))
