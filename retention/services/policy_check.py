"""The policy checker: the legal mistakes a well-formed policy file can still hold.

`policies_load` validates the shape of a file (`policies._validate`); this
module reads what the file means and reports, with the file and line:

- special-category data (Art. 9) processed without a stated Art. 9(2)
  condition (`art9_condition`);
- categories that no purpose processes (no rule governs their records);
- rules that can keep a record with no end date: a period that never ends
  (`keep`, `relationship`, `restrict`) is an error without a `reading` that
  says why, and a warning ("policy gap") with one; a rule that waits for staff
  to record the end of a purpose is a warning;
- overrides that would keep nothing, keep whole records or keep fields no
  category has, and overrides whose own period may not have started when the
  overridden one ends (the sweep then cannot say how long to keep the
  record);
- a consent-withdrawal right with no consent-based purpose;
- a legal obligation with no cited law (`law`): an error for a retention rule
  (its period comes from that law), a warning for a purpose;
- bookkeeping periods that count from the calendar year instead of the
  financial year, and a financial year the file does not state.

Errors stop the file from loading. Warnings are stored on the organisation
(`Organisation.policy_gaps`) and shown to staff: they are the places where
the published policy is silent or vague, which the portal does not fill in
with an invented answer.

Line numbers come from PyYAML's composed node tree (`yaml.compose`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.utils.translation import gettext_lazy as _

ERROR, WARNING = "error", "warning"

# One message per finding code, with the finding's `params`.
MESSAGES = {
    "special_without_art9_condition": _(
        "special-category data (Art. 9) is processed without a stated Art. 9(2) condition; "
        "add `art9_condition` once the organisation states it"
    ),
    "category_without_purpose": _(
        "no purpose processes this category, so no retention rule governs its records"
    ),
    "open_ended_without_reason": _(
        "this rule keeps records with no end date and gives no reason (`reading`); "
        "storage limitation (Art. 5(1)(e)) needs a period or a stated reason"
    ),
    "open_ended": _(
        "records under this rule have no end date: they are kept until the person asks for "
        "erasure (Art. 5(1)(e)); the file's reason is in `reading`"
    ),
    "waits_for_purpose_end": _(
        "records under this rule do not expire until staff record the end of the purpose "
        "(purpose_ended_at)"
    ),
    "override_without_fields": _(
        "an overriding rule must name the `fields` it keeps; it would keep whole records"
    ),
    "override_unknown_field": _("`fields` names `%(field)s`, which no category of this file has"),
    "override_keeps_nothing": _(
        "none of the records of `%(rule)s` has any of the fields this rule keeps: the "
        "override never keeps anything"
    ),
    "override_may_have_no_end": _(
        "when `%(rule)s` ends before this rule's event (%(event)s) has happened, the sweep "
        "cannot say how long to keep the record: it reports it as a policy error each night"
    ),
    "consent_withdrawal_without_consent_purpose": _(
        "the file offers consent withdrawal but no purpose is based on consent; the portal "
        "does not offer the form"
    ),
    "rule_law_missing": _(
        "a retention rule based on a legal obligation must cite the law (`law`) its period "
        "comes from"
    ),
    "purpose_law_missing": _("the purpose is based on a legal obligation but names no law (`law`)"),
    "bookkeeping_calendar_year": _(
        "a legal-obligation period that counts from a year's end counts from the financial "
        "year (Bokföringslagen 7 kap. 2 §): use end_of_financial_year"
    ),
    "financial_year_assumed": _(
        "the file does not state the financial year (`financial_year_end`): bookkeeping "
        "periods assume the calendar year (12-31)"
    ),
}


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    file: str
    line: int | None
    entry: str
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(MESSAGES[self.code]) % self.params

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.entry}: {self.message}"

    def as_gap(self) -> dict:
        """What `Organisation.policy_gaps` stores (rendered in the reader's language later)."""
        return {"code": self.code, "entry": self.entry, "line": self.line, "params": self.params}


def gap_message(gap: dict) -> str:
    """A stored gap's message in the active language."""
    template = MESSAGES.get(gap.get("code"))
    return str(template) % (gap.get("params") or {}) if template else str(gap.get("code"))


def _node_lines(node, path: tuple, out: dict) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _node_lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), out)


def policy_lines(text: str) -> dict[tuple, int]:
    """{(section, index, key, ...): 1-based line} of every node of a YAML text."""
    out: dict[tuple, int] = {}
    root = yaml.compose(text)
    if root is not None:
        _node_lines(root, (), out)
    return out


class _Report:
    def __init__(self, file: str, lines: dict[tuple, int]):
        self.file = file
        self.lines = lines
        self.findings: list[Finding] = []

    def add(self, severity: str, code: str, path: tuple, entry: str, **params) -> None:
        line = None
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line:
                break
        self.findings.append(Finding(severity, code, self.file, line, entry, params))


def _label(section: str, index: int, item: dict) -> str:
    key = item.get("right") if section == "rights" else item.get("key")
    return f"{section}[{index}] ({key})"


OPEN_ENDED_STARTS = {"relationship"}
# Events that every record has: an override counting from one always has a date.
ALWAYS_KNOWN = {"collected", "last_contact"}


def policy_check(*, path: Path, doc: dict, text: str | None = None) -> list[Finding]:
    """Check a validated policy document (`policies._validate`); return the findings."""
    text = path.read_text(encoding="utf-8") if text is None else text
    report = _Report(path.name, policy_lines(text))
    organisation = doc.get("organisation") or {}
    categories = list(enumerate(doc.get("categories") or []))
    rules = list(enumerate(doc.get("retention_rules") or []))
    purposes = list(enumerate(doc.get("purposes") or []))
    rights = list(enumerate(doc.get("rights") or []))
    rule_by_key = {rule["key"]: rule for _i, rule in rules}
    used_categories = {key for _i, p in purposes for key in p.get("categories") or []}
    category_fields = {c["key"]: set(c.get("fields") or []) for _i, c in categories}

    for index, category in categories:
        label = _label("categories", index, category)
        if category["key"] not in used_categories:
            report.add(WARNING, "category_without_purpose", ("categories", index), label)
        elif category.get("special") and not category.get("art9_condition"):
            report.add(
                WARNING, "special_without_art9_condition", ("categories", index, "special"), label
            )

    governed = _governed(rules, purposes, rule_by_key)
    for index, rule in rules:
        _rule_check(report, index, rule, governed)
        _override_check(report, index, rule, governed, rule_by_key, category_fields)
    _purposes_and_rights_check(report, purposes, rights)

    if "financial_year_end" not in organisation and any(
        rule.get("end_of_financial_year") for _i, rule in rules
    ):
        report.add(WARNING, "financial_year_assumed", ("organisation",), "organisation")
    return sorted(report.findings, key=lambda f: (f.line or 0, f.code))


def _governed(rules: list, purposes: list, rule_by_key: dict) -> dict[str, set[str]]:
    """Which categories each rule governs: its `applies_to`, and the categories of the
    purposes whose rule it is that no other rule claims by category."""
    claimed = {
        key: rule["key"]
        for _i, rule in rules
        for key in (rule.get("applies_to") or {}).get("categories") or []
    }
    governed: dict[str, set[str]] = {key: set() for key in rule_by_key}
    for _i, purpose in purposes:
        for key in purpose.get("categories") or []:
            governed.setdefault(claimed.get(key, purpose["retention_rule"]), set()).add(key)
    return governed


def _rule_check(report: _Report, index: int, rule: dict, governed: dict) -> None:
    """A rule that never ends, waits for a purpose's end, or names no law it keeps for."""
    label = _label("retention_rules", index, rule)
    at = ("retention_rules", index)
    never_ends = (
        rule.get("action") in ("keep", "restrict")
        or rule.get("starts") in OPEN_ENDED_STARTS
        or not rule.get("period")
    )
    if never_ends and governed.get(rule["key"]):
        if (rule.get("reading") or "").strip():
            report.add(WARNING, "open_ended", (*at, "action"), label)
        else:
            report.add(ERROR, "open_ended_without_reason", (*at, "action"), label)
    elif rule.get("starts") == "purpose_end" and governed.get(rule["key"]):
        report.add(WARNING, "waits_for_purpose_end", (*at, "starts"), label)
    if rule.get("legal_basis") == "legal_obligation":
        if not (rule.get("law") or "").strip():
            report.add(ERROR, "rule_law_missing", (*at, "legal_basis"), label)
        if rule.get("end_of_calendar_year"):
            report.add(ERROR, "bookkeeping_calendar_year", (*at, "end_of_calendar_year"), label)


def _override_check(
    report: _Report,
    index: int,
    rule: dict,
    governed: dict,
    rule_by_key: dict,
    category_fields: dict[str, set[str]],
) -> None:
    """A rule that overrides others for some fields: the fields exist, are held, have an end."""
    overridden = rule.get("overrides") or []
    if not overridden:
        return
    label = _label("retention_rules", index, rule)
    at = ("retention_rules", index)
    all_fields = set().union(*category_fields.values()) if category_fields else set()
    kept = set(rule.get("fields") or [])
    if not kept:
        report.add(ERROR, "override_without_fields", (*at, "overrides"), label)
        return
    for name in sorted(kept - all_fields):
        report.add(ERROR, "override_unknown_field", (*at, "fields"), label, field=name)
    for key in overridden:
        other = rule_by_key.get(key) or {}
        if not any(kept & category_fields.get(c, set()) for c in governed.get(key, set())):
            report.add(WARNING, "override_keeps_nothing", (*at, "overrides"), label, rule=key)
        event = rule.get("starts")
        if event not in ALWAYS_KNOWN and event != other.get("starts"):
            report.add(
                WARNING,
                "override_may_have_no_end",
                (*at, "starts"),
                label,
                rule=key,
                event=event,
            )


def _purposes_and_rights_check(report: _Report, purposes: list, rights: list) -> None:
    for index, purpose in purposes:
        if (
            purpose.get("legal_basis") == "legal_obligation"
            and not (purpose.get("law") or "").strip()
        ):
            report.add(
                WARNING,
                "purpose_law_missing",
                ("purposes", index, "legal_basis"),
                _label("purposes", index, purpose),
            )

    consent = any(p.get("legal_basis") == "consent" for _i, p in purposes)
    for index, right in rights:
        if right.get("right") == "consent_withdrawal" and not consent:
            report.add(
                WARNING,
                "consent_withdrawal_without_consent_purpose",
                ("rights", index),
                _label("rights", index, right),
            )


def errors_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def warnings_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == WARNING]
