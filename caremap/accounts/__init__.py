"""Users, their sessions and API tokens. Domain packages see a user only as a `directory.Actor`."""
