"""The README's first command, for real: `caremap serve --demo` in its own process."""

import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import ON_POSTGRES
from tests.hsds import EXAMPLES, needs_hsds
from tests.processes import caremap, clean_env, wait_until_serving
from tests.smtp import free_port


def test_serve_demo_serves_the_catalog(cli_env):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "caremap.cli", "serve", "--demo", "--port", str(port)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, process, seconds=90)
        services = httpx.get(f"{base}/api/services?per_page=1").json()
        assert services["total_items"] >= 150
        home = httpx.get(base)
        assert home.status_code == 200
        assert "Find services" in home.text
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Demo logins" in output
    # Where mail would go is said once at start; with no mail server, mail waits quietly.
    assert re.search(r"^Mail goes to the SMTP server at \S+:\d+ ", output, re.MULTILINE)
    assert output.count("unavailable") <= 1
    logins = re.findall(
        r"^\s+(specialist|partner|partner_admin|admin)\s+(\S+@\S+)\s+(\S+)$", output, re.MULTILINE
    )
    assert len(logins) == 7


def test_user_commands(cli_env):
    assert caremap("seed", env=cli_env).returncode == 0
    added = caremap(
        "user",
        "add",
        "--email",
        "new.partner@test.example.org",
        "--name",
        "New",
        "--role",
        "partner",
        "--organization",
        "Pilsen Community Pantry",
        env=cli_env,
    )
    assert added.returncode == 0, added.stderr
    assert "Password (shown once)" in added.stdout
    again = caremap(
        "user",
        "add",
        "--email",
        "new.partner@test.example.org",
        "--name",
        "New",
        "--role",
        "partner",
        "--organization",
        "Pilsen Community Pantry",
        env=cli_env,
    )
    assert again.returncode != 0
    assert "already exists" in again.stderr
    wrong = caremap(
        "user",
        "add",
        "--email",
        "x@test.example.org",
        "--name",
        "X",
        "--role",
        "specialist",
        "--organization",
        "Pilsen Community Pantry",
        env=cli_env,
    )
    assert "role" in wrong.stderr
    reset = caremap("user", "password", "new.partner@test.example.org", env=cli_env)
    assert "New password (shown once)" in reset.stdout
    assert "API tokens were ended" in reset.stdout
    email = "new.partner@test.example.org"
    promoted = caremap("user", "update", email, "--role", "partner_admin", env=cli_env)
    assert promoted.returncode == 0, promoted.stderr
    assert "partner_admin, active" in promoted.stdout
    misplaced = caremap("user", "update", email, "--role", "specialist", env=cli_env)
    assert misplaced.returncode == 1
    assert "role: a specialist cannot belong to a provider organization" in misplaced.stderr
    deactivated = caremap("user", "deactivate", email, env=cli_env)
    assert "deactivated" in deactivated.stdout
    assert caremap("user", "deactivate", "nobody@test.example.org", env=cli_env).returncode == 1


@needs_hsds
def test_import_and_export_commands(cli_env, tmp_path):
    """`caremap import` names every error and writes nothing, then imports, reports counts,
    and `caremap export` writes both package forms."""
    examples = EXAMPLES
    for empty in ("empty", "empty.json"):  # a database nothing was put in yet
        exported = caremap("export", str(tmp_path / empty), env=cli_env)
        assert exported.returncode == 0, exported.stderr
        assert "Exported 0 organization, 0 service, 0 location records" in exported.stdout
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "organizations.csv").write_text("id,name,description\nnot-a-uuid,,x\n")
    refused = caremap("import", str(bad), "--quiet", env=cli_env)
    assert refused.returncode == 1
    assert "error: organizations.csv row 2, id: required, a UUID" in refused.stderr
    assert "nothing was written" in refused.stderr

    args = ("import", str(examples / "csv"), "--default-category", "legal-aid", "--quiet")
    first = caremap(*args, env=cli_env)
    assert first.returncode == 0, first.stderr
    assert re.search(r"^total\s+21\s+0\s+0\s+0$", first.stdout, re.MULTILINE), first.stdout
    assert "warning: locations.csv row 2, postal_code" in first.stderr
    again = caremap(*args, env=cli_env)
    assert re.search(r"^total\s+0\s+0\s+21\s+0$", again.stdout, re.MULTILINE), again.stdout

    exported = caremap("export", str(tmp_path / "out"), env=cli_env)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out" / "services.csv").read_text().count("Community Counselling") == 1
    assert caremap("export", str(tmp_path / "out.json"), env=cli_env).returncode == 0
    assert "Community Counselling" in (tmp_path / "out.json").read_text()


def test_import_names_what_it_cannot_read_without_a_traceback(cli_env, tmp_path):
    """A number of thousands of digits, JSON nested thousands deep, and a CSV cell over the
    csv module's 128 KB limit are each a named error, and nothing is written."""
    huge = tmp_path / "huge.json"
    huge.write_text('[{"id": "x", "name": "A", "year_incorporated": ' + "9" * 5000 + "}]")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    wide = tmp_path / "wide"
    wide.mkdir()
    organization = "0b6c7d0e-1111-4a8e-9f00-000000000001"
    (wide / "organizations.csv").write_text(
        f'id,name,description\n{organization},Wide,"{"x" * 200_000}"\n'
    )
    big_number = tmp_path / "number"
    big_number.mkdir()
    (big_number / "organizations.csv").write_text(
        f"id,name,description,year_incorporated\n{organization},A,B,{'9' * 5000}\n"
    )
    expected = {
        huge: "huge.json, file: holds a value that is not valid here",
        deep: "deep.json, file: is nested",
        wide: "organizations.csv row 2, row: cannot be read as CSV (field larger than field limit",
        big_number: "organizations.csv row 2, year_incorporated: '" + "9" * 60,
    }
    for path, error in expected.items():
        refused = caremap("import", str(path), "--quiet", env=cli_env)
        assert refused.returncode == 1, refused.stderr
        assert "Traceback" not in refused.stderr
        assert error in refused.stderr, refused.stderr
        assert "nothing was written" in refused.stderr


def test_bad_settings_are_one_line_naming_the_setting(tmp_path):
    """Unusable databases, folders and ports: one line naming what is wrong, a non-zero exit,
    no traceback, and nothing made up (no folder created, no empty database served)."""
    env = clean_env(tmp_path / "data")
    cases = {
        "mysql://x@127.0.0.1/db": "DATABASE_URL has the scheme 'mysql'",
        "foo://bar": "DATABASE_URL has the scheme 'foo'",
        f"postgres://postgres@127.0.0.1:{free_port()}/test": "DATABASE_URL: cannot use the",
        f"sqlite://{tmp_path}/missing/dir/x.sqlite3": "DATABASE_URL: the folder",
    }
    for url, said in cases.items():
        for command in (("db", "upgrade"), ("seed",), ("reindex", "--quiet")):
            result = caremap(*command, env={**env, "DATABASE_URL": url})
            assert result.returncode == 1, (url, command, result.stderr)
            assert said in result.stderr, result.stderr
            assert "Traceback" not in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "missing").exists()

    bad_folder = caremap("seed", env={**env, "CAREMAP_DATA_DIR": "/proc/caremap"})
    assert bad_folder.returncode == 1
    assert bad_folder.stderr.startswith("caremap: CAREMAP_DATA_DIR: cannot use /proc/caremap")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = caremap("serve", "--port", str(port), env=env)
    assert busy.returncode == 1
    assert (
        busy.stderr.strip() == f"caremap: cannot serve on 127.0.0.1:{port} (Address already in use)"
    )
    assert "serving" not in busy.stdout

    version = caremap("--version", env=env)
    assert version.returncode == 0
    assert re.fullmatch(r"caremap \d+\.\d+\.\d+\S*\n", version.stdout)


def test_the_database_and_secret_are_readable_by_their_owner_only(cli_env, tmp_path):
    if ON_POSTGRES:
        pytest.skip("the SQLite file is what this checks")
    assert caremap("seed", env=cli_env).returncode == 0
    data = Path(cli_env["CAREMAP_DATA_DIR"])
    files = [data / "caremap.sqlite3", data / "secret_key"]
    files += [path for path in data.glob("caremap.sqlite3-*") if path.is_file()]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


async def test_commands_on_a_database_never_set_up_say_to_upgrade_it(cli_env, database_url):
    """A command that reads the catalog, run before any that sets the database up: one line
    saying what to run, not a traceback naming a missing table."""
    if ON_POSTGRES:  # the test's database, emptied (SQLite: the data folder holds none yet)
        connection = await asyncpg.connect(database_url)
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await connection.close()
    expected = "caremap: the database has no caremap tables yet: run `caremap db upgrade`"
    user = ["user", "add", "--email", "a@test.example.org", "--name", "A", "--role", "admin"]
    user += ["--organization", "Pilsen Community Pantry"]
    for command in (["reindex", "--quiet"], ["check"], user):
        result = caremap(*command, env=cli_env)
        assert (result.returncode, result.stderr.strip()) == (1, expected), command
    assert caremap("db", "upgrade", env=cli_env).returncode == 0
    assert caremap("reindex", "--quiet", env=cli_env).returncode == 0


def test_check_says_whether_the_database_and_search_answer(cli_env):
    """`caremap check`, a worker's healthcheck: 0 when its database and search engine answer,
    else 1 and what does not answer."""
    assert caremap("seed", env=cli_env).returncode == 0
    unbuilt = caremap("check", env=cli_env)
    assert unbuilt.returncode == 1
    assert unbuilt.stderr.strip() == "caremap: the search engine (embedded) does not answer"
    assert caremap("reindex", "--quiet", env=cli_env).returncode == 0
    ready = caremap("check", env=cli_env)
    assert (ready.returncode, ready.stdout.strip()) == (0, "ok")
    nowhere = {**cli_env, "SEARCH_BACKEND": "meilisearch", "MEILI_URL": "http://127.0.0.1:9"}
    assert caremap("check", env=nowhere).returncode == 1
