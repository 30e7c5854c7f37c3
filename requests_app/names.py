"""The localised names of an organisation's categories, purposes and rules, read once."""

from __future__ import annotations

from dataclasses import dataclass, field

from requests_app.choices import localized_name
from retention.models import DataCategory, Purpose, RetentionRule


@dataclass
class Names:
    """Localised names of an organisation's categories, purposes and rules (three queries)."""

    categories: dict[str, str] = field(default_factory=dict)
    purposes: dict[str, str] = field(default_factory=dict)
    rules: dict[str, RetentionRule] = field(default_factory=dict)

    @classmethod
    def of(cls, organisation_id: int) -> Names:
        return cls(
            categories={
                c.key: localized_name(c)
                for c in DataCategory.objects.filter(organisation_id=organisation_id)
            },
            purposes={
                p.key: localized_name(p)
                for p in Purpose.objects.filter(organisation_id=organisation_id)
            },
            rules={r.key: r for r in RetentionRule.objects.filter(organisation_id=organisation_id)},
        )
