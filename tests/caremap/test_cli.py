"""The README's first command, for real: `caremap serve --demo` in its own process."""

import re
import subprocess
import sys

import httpx

from tests.hsds import EXAMPLES, needs_hsds
from tests.processes import caremap, wait_until_serving
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
