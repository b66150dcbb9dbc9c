"""caremap's composition package: settings, database, accounts, the web app and the CLI."""
