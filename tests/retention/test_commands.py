"""The management commands behave as Django users expect (issue 17).

- Every command honours --verbosity: -v 0 prints nothing but errors (and what
  the command exists to print, such as a key or a token).
- `import_records` and `load_policies` have --dry-run: the real code runs in a
  transaction that is rolled back, reports what would change and writes nothing.
- The long commands (`import_records`, `sweep`, `verify_audit`, `seed_demo`)
  show a progress bar with counts and rate on a terminal, are quiet when not
  on one, and end with a summary.
- A failure exits non-zero (CommandError, exit status 1).
"""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from retention.models import AuditEntry, DataSubject, Organisation, Record
from tests.retention.test_import_records import subject_line

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


class Terminal(StringIO):
    """A stream that says it is a terminal, as a user's shell would."""

    def isatty(self) -> bool:
        return True


def jsonl(tmp_path, lines) -> Path:
    path = tmp_path / "subjects.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


# --- --dry-run ---------------------------------------------------------------------------------


def test_import_dry_run_reports_what_would_change_and_writes_nothing(organisations, tmp_path):
    path = jsonl(tmp_path, [subject_line(1), subject_line(2)])
    audit_before = AuditEntry.objects.count()
    out = StringIO()
    call_command("import_records", str(path), "--dry-run", stdout=out)
    assert "DRY RUN: nothing was written" in out.getvalue()
    assert "subjects: 2 created" in out.getvalue()
    assert "records: 4 created" in out.getvalue()
    assert DataSubject.objects.count() == 0
    assert Record.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before

    call_command("import_records", str(path), stdout=StringIO())
    assert DataSubject.objects.count() == 2


def test_import_dry_run_reports_invalid_lines_and_fails(organisations, tmp_path):
    path = jsonl(tmp_path, [subject_line(1), {"organisation": "framsteget"}])
    err = StringIO()
    with pytest.raises(CommandError, match="would be imported") as raised:
        call_command("import_records", str(path), "--dry-run", stdout=StringIO(), stderr=err)
    assert raised.value.returncode == 1
    assert "line 2:" in err.getvalue()
    assert DataSubject.objects.count() == 0


def test_load_policies_dry_run_reports_what_would_be_created_and_writes_nothing(db):
    out = StringIO()
    call_command("load_policies", "--dry-run", stdout=out)
    assert "DRY RUN" in out.getvalue()
    assert "framsteget: created" in out.getvalue()
    assert not Organisation.objects.exists()


def test_load_policies_dry_run_of_unchanged_files_says_unchanged(organisations):
    out = StringIO()
    call_command("load_policies", "--dry-run", stdout=out)
    assert "framsteget: unchanged" in out.getvalue()


# --- --verbosity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["load_policies"],
        ["sweep", "--dry-run"],
        ["verify_audit"],
        ["seed_demo", "--subjects", "5"],
        ["check_policies"],
        ["compile_translations"],
        ["ensure_demo_staff"],
    ],
)
def test_verbosity_0_prints_nothing_when_all_is_well(organisations, command, tmp_path, settings):
    settings.AUDIT_HEADS_FILE = str(tmp_path / "heads.log")
    call_command(*command, stdout=StringIO(), stderr=StringIO())  # the first run may create
    out, err = StringIO(), StringIO()
    call_command(*command, verbosity=0, stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert err.getvalue() == ""


def test_import_at_verbosity_0_prints_nothing(organisations, tmp_path):
    out = StringIO()
    call_command("import_records", str(jsonl(tmp_path, [subject_line(1)])), verbosity=0, stdout=out)
    assert out.getvalue() == ""
    assert DataSubject.objects.count() == 1


def test_api_token_at_verbosity_0_is_the_token_alone(organisations):
    out = StringIO()
    call_command("create_api_token", "framsteget", "CRM", verbosity=0, stdout=out)
    assert len(out.getvalue().split()) == 1


# --- progress on a terminal, and a summary ---------------------------------------------


def test_import_shows_a_bar_with_counts_and_rate_on_a_terminal(organisations, tmp_path):
    path = jsonl(tmp_path, [subject_line(n) for n in range(1, 4)])
    out, err = StringIO(), Terminal()
    call_command("import_records", str(path), "--batch-size", "1", stdout=out, stderr=err)
    assert "3/3" in err.getvalue()
    assert "line/s" in err.getvalue()
    assert "subjects: 3 created" in out.getvalue()


def test_import_is_quiet_when_not_on_a_terminal(organisations, tmp_path):
    path = jsonl(tmp_path, [subject_line(1)])
    err = StringIO()
    call_command("import_records", str(path), stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""


def test_seed_demo_shows_a_bar_on_a_terminal_and_a_summary(organisations):
    out, err = StringIO(), Terminal()
    call_command("seed_demo", "--subjects", "10", stdout=out, stderr=err)
    assert "10/10" in err.getvalue()
    assert "subject/s" in err.getvalue()
    assert "records:" in out.getvalue()


def test_verify_audit_shows_a_bar_counting_entries_on_a_terminal(organisations, tmp_path, settings):
    settings.AUDIT_HEADS_FILE = str(tmp_path / "heads.log")
    total = AuditEntry.objects.count()
    err = Terminal()
    call_command("verify_audit", stdout=StringIO(), stderr=err)
    assert f"{total}/{total}" in err.getvalue()
    assert "entry/s" in err.getvalue()


def test_sweep_shows_a_bar_per_organisation_and_a_summary(organisations):
    out, err = StringIO(), Terminal()
    call_command("sweep", "--dry-run", stdout=out, stderr=err)
    assert "framsteget" in err.getvalue()
    assert "chunk" in err.getvalue()
    assert "summary: 5 organisation(s), would act on 0 records, 0 policy error(s)" in out.getvalue()


def test_no_bar_at_verbosity_0_even_on_a_terminal(organisations):
    err = Terminal()
    call_command("seed_demo", "--subjects", "3", verbosity=0, stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""


# --- exit codes ------------------------------------------------------------------------


def manage(*args: str) -> subprocess.CompletedProcess:
    from tests.conftest import worker_database_url

    env = {**os.environ, "DATABASE_URL": worker_database_url()}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_failures_exit_with_status_1_and_say_why_on_stderr(tmp_path):
    missing = manage("import_records", str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 1
    assert "Cannot read" in missing.stderr
    no_org = manage("sweep", "--organisation", "no-such-organisation")
    assert no_org.returncode == 1
    assert "No organisation" in no_org.stderr
    bad = tmp_path / "expektra.yaml"
    bad.write_text("organisation: [")
    refused = manage("load_policies", "--dry-run", str(bad))
    assert refused.returncode == 1
    assert "Nothing was loaded" in refused.stderr


def test_success_exits_with_status_0():
    checked = manage("check_policies", "-v", "0")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == ""


@pytest.mark.parametrize("command", [["seed_demo", "--subjects", "1"], ["ensure_demo_staff"]])
def test_no_demo_data_or_demo_account_when_debug_is_false(organisations, settings, command):
    """Issue 17: production (DEBUG false) never gets demo people or a demo admin."""
    from django.contrib.auth import get_user_model

    settings.DEMO_DATA_ALLOWED = False  # what DEBUG=false at start-up gives
    with pytest.raises(CommandError, match="DEBUG is false") as raised:
        call_command(*command, stdout=StringIO())
    assert raised.value.returncode == 1
    assert not DataSubject.objects.exists()
    assert not get_user_model().objects.exists()
