"""`check_policies`: the legal mistakes a well-formed policy file can hold, with file and line.

Errors stop a file from loading; warnings ("policy gaps") are stored on the organisation and
shown to staff. The seeds are silent on some points (Coachen names no Art. 9(2) condition for
health data): those are warnings to the organisation, not answers the portal invents.
"""

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.utils import translation

from retention.models import Organisation
from retention.services.policies import POLICY_DIR, PolicyError, policies_load, policy_check_file

TESTORG = Path(__file__).resolve().parents[1] / "requests_app" / "policies" / "testorg.yaml"

# What the checker must say about the five seeds: (file, code, entry).
SEED_WARNINGS = {
    ("coachen.yaml", "special_without_art9_condition", "categories[6] (health)"),
    ("coachen.yaml", "override_may_have_no_end", "retention_rules[2] (bookkeeping)"),
    ("coachen.yaml", "purpose_law_missing", "purposes[3] (legal_compliance)"),
    ("coachen.yaml", "financial_year_assumed", "organisation"),
    ("expektra.yaml", "open_ended", "retention_rules[0] (customer_register)"),
    ("expektra.yaml", "open_ended", "retention_rules[1] (login_accounts)"),
    ("expektra.yaml", "open_ended", "retention_rules[2] (marketing_until_objection)"),
    ("expektra.yaml", "purpose_law_missing", "purposes[3] (legal_compliance)"),
    ("framsteget.yaml", "financial_year_assumed", "organisation"),
    ("prognoscentret.yaml", "waits_for_purpose_end", "retention_rules[0] (purpose_ended)"),
    ("prognoscentret.yaml", "purpose_law_missing", "purposes[1] (legal_obligation)"),
    ("prokompetens.yaml", "override_may_have_no_end", "retention_rules[1] (bookkeeping)"),
    ("prokompetens.yaml", "purpose_law_missing", "purposes[7] (legal_obligation)"),
    ("prokompetens.yaml", "financial_year_assumed", "organisation"),
}


def _line_of(path: Path, text: str, after: str | None = None) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i in range(start, len(lines)) if text in lines[i]) + 1


def test_the_five_seeds_load_with_the_expected_warnings_and_no_errors():
    found = set()
    for path in sorted(POLICY_DIR.glob("*.yaml")):
        doc, findings, problems = policy_check_file(path)
        assert problems == []
        assert [f for f in findings if f.severity == "error"] == []
        found |= {(f.file, f.code, f.entry) for f in findings}
    assert found == SEED_WARNINGS


def test_each_finding_names_the_file_and_the_line():
    path = POLICY_DIR / "coachen.yaml"
    _, findings, _ = policy_check_file(path)
    by_code = {f.code: f for f in findings}
    # The health category's `special: true`, and the bookkeeping rule's `starts: settled`.
    assert by_code["special_without_art9_condition"].line == _line_of(
        path, "special: true", after="- key: health"
    )
    assert by_code["override_may_have_no_end"].line == _line_of(
        path, "starts: settled", after="- key: bookkeeping"
    )
    with translation.override("en"):
        text = str(by_code["special_without_art9_condition"])
    assert text.startswith(
        f"coachen.yaml:{by_code['special_without_art9_condition'].line}: warning: "
        "categories[6] (health): special-category data (Art. 9)"
    )


def test_the_command_reports_per_organisation_and_passes_on_the_seeds():
    out = StringIO()
    call_command("check_policies", stdout=out)
    text = out.getvalue()
    assert "coachen (coachen.yaml): 0 error(s), 4 warning(s)" in text
    assert "framsteget (framsteget.yaml): 0 error(s), 1 warning(s)" in text
    assert "coachen.yaml:" in text and "Art. 9(2)" in text


def test_loading_stores_the_warnings_as_policy_gaps(organisations):
    gaps = Organisation.objects.get(slug="coachen").policy_gaps
    assert {g["code"] for g in gaps} == {
        code for file, code, _entry in SEED_WARNINGS if file == "coachen.yaml"
    }
    assert all(isinstance(g["line"], int) for g in gaps)


def _variant(tmp_path, change) -> Path:
    doc = yaml.safe_load(TESTORG.read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / "testorg.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _rule(doc, key):
    return next(r for r in doc["retention_rules"] if r["key"] == key)


def _customer_kept_for_ever(doc):
    _rule(doc, "customer").update(action="keep")


def _law_removed(doc):
    _rule(doc, "bookkeeping").pop("law")


def _calendar_year(doc):
    rule = _rule(doc, "bookkeeping")
    rule.pop("end_of_financial_year")
    rule["end_of_calendar_year"] = True


def _override_without_fields(doc):
    _rule(doc, "bookkeeping").update(overrides=["customer"], action="delete")


def _override_with_a_typo(doc):
    _rule(doc, "bookkeeping").update(
        overrides=["customer"], fields=["order_numbr", "amount"], action="delete"
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_customer_kept_for_ever, "keeps records with no end date and gives no reason"),
        (_law_removed, "must cite the law"),
        (_calendar_year, "use end_of_financial_year"),
        (_override_without_fields, "must name the `fields` it keeps"),
        (_override_with_a_typo, "`fields` names `order_numbr`"),
    ],
)
def test_an_error_stops_the_file_from_loading(db, tmp_path, change, code):
    path = _variant(tmp_path, change)
    with pytest.raises(PolicyError) as exc:
        policies_load(paths=[path])
    (problem,) = exc.value.problems
    assert problem.startswith("testorg.yaml:") and ": error: " in problem
    assert code in problem
    assert not Organisation.objects.filter(slug="testorg").exists()
    with pytest.raises(CommandError, match="1 policy file"):
        call_command("check_policies", str(path), stdout=StringIO())


def test_an_override_keeps_nothing_when_no_record_of_the_overridden_rule_has_its_fields(
    tmp_path,
):
    def change(doc):
        _rule(doc, "bookkeeping").update(
            overrides=["customer"], fields=["order_number"], action="delete"
        )
        for purpose in doc["purposes"]:
            purpose["categories"] = ["contact"]

    _, findings, _ = policy_check_file(_variant(tmp_path, change))
    assert ("override_keeps_nothing", "warning") in {(f.code, f.severity) for f in findings}


def test_a_consent_withdrawal_right_without_a_consent_purpose_is_a_gap(tmp_path):
    def change(doc):
        doc["purposes"] = [p for p in doc["purposes"] if p["legal_basis"] != "consent"]
        doc["rights"].append({"right": "consent_withdrawal", "quote": "Återkalla samtycke."})

    _, findings, _ = policy_check_file(_variant(tmp_path, change))
    assert "consent_withdrawal_without_consent_purpose" in {f.code for f in findings}


def test_a_stated_art9_condition_answers_the_special_category_warning(tmp_path):
    def change(doc):
        doc["categories"][0].update(special=True, art9_condition="a")

    _, findings, _ = policy_check_file(_variant(tmp_path, change))
    assert "special_without_art9_condition" not in {f.code for f in findings}

    def wrong(doc):
        doc["categories"][0].update(special=True, art9_condition="z")

    _, _, problems = policy_check_file(_variant(tmp_path, wrong))
    assert any("art9_condition" in p for p in problems)
