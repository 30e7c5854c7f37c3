"""The policy files load faithfully, idempotently, and all-or-nothing."""

import re
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from retention.models import AuditEntry, Organisation, Purpose, RetentionRule
from retention.services.policies import POLICY_DIR, PolicyError, policies_load

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
SLUGS = {"prognoscentret", "prokompetens", "coachen", "framsteget", "expektra"}
SOURCES = {
    "prognoscentret": "000_c2b37dd2c299567f.txt",
    "prokompetens": "001_fec29ef96a170c87.txt",
    "coachen": "002_e8e9a677481982d2.txt",
    "framsteget": "003_4bc983da924adc19.txt",
    "expektra": "004_994978095e2ccc85.txt",
}


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _policy(slug: str) -> dict:
    return yaml.safe_load((POLICY_DIR / f"{slug}.yaml").read_text())


def test_there_is_one_policy_file_per_organisation():
    assert {p.stem for p in POLICY_DIR.glob("*.yaml")} == SLUGS


@pytest.mark.parametrize("slug", sorted(SLUGS))
def test_every_quote_is_verbatim_from_the_organisations_privacy_policy(slug):
    if not SEEDS.is_dir():
        pytest.skip("shared/seeds is not beside this checkout")
    seed = _squash((SEEDS / SOURCES[slug]).read_text())
    doc = _policy(slug)
    assert doc["organisation"]["source_file"] == SOURCES[slug]
    for section in ("retention_rules", "purposes", "rights"):
        for entry in doc[section]:
            assert _squash(entry["quote"]) in seed, (section, entry.get("key", entry.get("right")))


def test_all_five_load_with_their_purposes_categories_recipients_and_rules(db):
    results = policies_load()
    assert {r.slug for r in results} == SLUGS
    assert all(r.created for r in results)
    assert set(Organisation.objects.values_list("slug", flat=True)) == SLUGS
    for org in Organisation.objects.all():
        doc = _policy(org.slug)
        assert org.purposes.count() == len(doc["purposes"])
        assert org.categories.count() == len(doc["categories"])
        assert org.retention_rules.count() == len(doc["retention_rules"])
        assert org.recipients.count() == len(doc.get("recipients") or [])
        assert org.supervisory_authority_url == "https://www.imy.se"


def test_loading_twice_changes_nothing(db):
    policies_load()
    before = (
        list(Organisation.objects.values().order_by("id")),
        list(RetentionRule.objects.values().order_by("id")),
        list(Purpose.objects.values().order_by("id")),
        AuditEntry.objects.count(),
    )
    results = policies_load()
    assert not any(r.changed for r in results)
    after = (
        list(Organisation.objects.values().order_by("id")),
        list(RetentionRule.objects.values().order_by("id")),
        list(Purpose.objects.values().order_by("id")),
        AuditEntry.objects.count(),
    )
    assert before == after


def _rule(slug: str, key: str) -> RetentionRule:
    return RetentionRule.objects.get(organisation__slug=slug, key=key)


def _rule_with(slug: str, **match) -> RetentionRule:
    rules = RetentionRule.objects.filter(organisation__slug=slug, **match)
    assert rules.exists(), (slug, match)
    return rules.first()


def test_framsteget_rules_are_faithful_to_its_policy(db):
    policies_load()
    ip = _rule_with("framsteget", period_unit="weeks", period_value=3)
    assert (ip.start_event, ip.action) == ("collected", "delete")
    assert ip.applies_to_categories.exists()
    credit = _rule_with("framsteget", period_unit="months", period_value=3)
    assert credit.start_event == "collected"
    fault = _rule_with("framsteget", period_unit="months", period_value=6)
    assert fault.action in {"delete", "anonymise"}
    invoice = _rule_with("framsteget", period_unit="months", period_value=18)
    assert invoice.start_event == "settled"
    bookkeeping = _rule_with("framsteget", legal_basis="legal_obligation", period_unit="years")
    # Bokföringslagen 7 kap. 2 §: from the end of the calendar year the financial year ended.
    assert bookkeeping.period_value == 7 and bookkeeping.end_of_financial_year
    assert not bookkeeping.end_of_calendar_year
    assert bookkeeping.fields and invoice in bookkeeping.overrides.all()
    customer = _rule_with("framsteget", period_unit="months", period_value=12)
    assert customer.start_event == "contract_end"


def test_the_coaching_business_counts_five_years_from_the_end_of_the_calendar_year(db):
    policies_load()
    contract = _rule_with("coachen", period_unit="years", period_value=5)
    assert contract.start_event == "contract_end" and contract.end_of_calendar_year
    prospects = _rule_with("coachen", period_unit="months", period_value=3)
    assert prospects.start_event == "last_contact"
    assert Organisation.objects.get(slug="coachen").categories.filter(special=True).exists()


def _write(tmp_path: Path, slug: str, mutate) -> Path:
    doc = _policy(slug)
    mutate(doc)
    path = tmp_path / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["retention_rules"][0].update(period={"fortnights": 2}), "retention_rules[0]"),
        (lambda d: d["retention_rules"][0].update(starts="whenever"), "'starts'"),
        (lambda d: d["purposes"][0].update(legal_basis="because"), "'legal_basis'"),
        (lambda d: d["purposes"][0].update(retention_rule="nope"), "unknown rule 'nope'"),
        (lambda d: d["purposes"][0].update(categories=["ghost"]), "unknown key 'ghost'"),
        (lambda d: d["organisation"].update(contact_email="not-an-email"), "contact_email"),
        (lambda d: d["organisation"].update(slug="other"), "'slug'"),
        (lambda d: d.pop("categories"), "categories: must be a non-empty list"),
        (lambda d: d["categories"].append(dict(d["categories"][0])), "duplicate key"),
    ],
)
def test_a_malformed_file_is_refused_naming_file_entry_and_problem(db, tmp_path, mutate, expected):
    bad = _write(tmp_path, "framsteget", mutate)
    good = POLICY_DIR / "expektra.yaml"
    with pytest.raises(PolicyError) as excinfo:
        policies_load(paths=[good, bad])
    assert "framsteget.yaml: " in str(excinfo.value)
    assert expected in str(excinfo.value)
    # Nothing is half-loaded: not even the good file.
    assert not Organisation.objects.exists()


def test_invalid_yaml_is_refused_with_its_line(db, tmp_path):
    bad = tmp_path / "framsteget.yaml"
    bad.write_text("organisation:\n  slug: [unclosed\n")
    with pytest.raises(PolicyError, match=r"framsteget.yaml: line \d+: not valid YAML"):
        policies_load(paths=[bad])


def test_a_failure_midway_rolls_back_what_was_already_written(db, tmp_path):
    policies_load()
    from retention.models import DataSubject, Record

    org = Organisation.objects.get(slug="framsteget")
    purpose = org.purposes.first()
    subject = DataSubject.objects.create(organisation=org, external_id="s1")
    Record.objects.create(
        organisation=org,
        subject=subject,
        category=purpose.categories.first(),
        purpose=purpose,
        external_id="r1",
        source="provided",
        collected_at="2026-01-01T00:00:00Z",
    )

    # A file that drops a purpose still used by a record, after a changed name.
    def mutate(doc):
        doc["organisation"]["display_name"] = "Renamed"
        doc["purposes"] = [p for p in doc["purposes"] if p["key"] != purpose.key]

    path = _write(tmp_path, "framsteget", mutate)
    with pytest.raises(PolicyError, match="still used"):
        policies_load(paths=[path])
    assert Organisation.objects.get(slug="framsteget").display_name != "Renamed"


def test_the_command_reports_each_organisation_and_fails_loudly(db, tmp_path):
    out = StringIO()
    call_command("load_policies", stdout=out)
    assert {line.split(":")[0] for line in out.getvalue().splitlines()} == SLUGS
    bad = _write(tmp_path, "expektra", lambda d: d["purposes"][0].update(legal_basis="x"))
    with pytest.raises(CommandError, match="Nothing was loaded"):
        call_command("load_policies", str(bad))


# --- How long the portal keeps the organisation's requests (organisation.request_retention) ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"fortnights": 2}, "exactly one of days/weeks/months/years"),
        ({"years": 0}, "a positive int"),
        ({"years": "3"}, "a positive int"),
        ({"years": 3, "months": 1}, "exactly one"),
        ({"years": 11}, "at most 10 years (Art. 5(1)(e))"),
        ({"months": 121}, "at most 10 years"),
        ({"weeks": 521}, "at most 10 years"),
        ("3 years", "exactly one"),
    ],
)
def test_a_request_retention_period_that_is_not_a_period_of_at_most_ten_years_is_refused(
    db, tmp_path, value, expected
):
    """Art. 5(1)(e): the portal's own data needs an end date; preskriptionslagen 2 § (ten
    years) is the longest a request could be needed to answer a claim."""
    bad = _write(
        tmp_path, "framsteget", lambda d: d["organisation"].update(request_retention=value)
    )
    with pytest.raises(PolicyError) as excinfo:
        policies_load(paths=[bad])
    assert "framsteget.yaml: organisation.request_retention: " in str(excinfo.value)
    assert expected in str(excinfo.value)


def test_the_request_retention_period_is_three_years_unless_the_file_says_otherwise(db, tmp_path):
    from retention.services.policies import request_retention_period

    policies_load()
    for org in Organisation.objects.all():
        assert request_retention_period(organisation=org) == ("years", 3), org.slug
    for longest in ({"years": 10}, {"months": 120}, {"weeks": 520}, {"days": 3653}):
        path = _write(
            tmp_path, "expektra", lambda d, v=longest: d["organisation"].update(request_retention=v)
        )
        policies_load(paths=[path])
        expektra = Organisation.objects.get(slug="expektra")
        assert request_retention_period(organisation=expektra) == next(iter(longest.items()))
