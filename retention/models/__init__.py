"""The record store: each organisation's personal data and the rules it lives by.

Organisations (tenants) and their processing purposes, data categories,
recipients and retention rules come from the policy files in
`retention/policies/` (`load_policies`). Data subjects, their identifiers,
records and disclosures come from the organisation's systems
(`import_records`, the record-store API) or from `seed_demo`.

Every foreign key is indexed (Django indexes ForeignKey columns), so deletes
that cascade never scan a table.

One module per part, re-exported here (import from `retention.models`):

- `policy`: organisations and their purposes, data categories, recipients, rules;
- `store`: data subjects, identifiers, records, disclosures, suppressions, processing stops;
- `operations`: legal holds, sweep runs, record-store jobs, erasure tombstones;
- `access`: staff memberships, API tokens, the audit trail and its checks.

Every model keeps its table (`retention_<model>`) and the app label `retention`.
"""

from retention.models.access import (
    AuditCheck,
    AuditEntry,
    OrganisationApiToken,
    StaffMembership,
)
from retention.models.operations import (
    ErasureTombstone,
    LegalHold,
    RecordStoreJob,
    SweepRun,
)
from retention.models.policy import (
    DataCategory,
    LegalBasis,
    Organisation,
    Purpose,
    Recipient,
    RetentionRule,
)
from retention.models.store import (
    DataSubject,
    Disclosure,
    ProcessingStop,
    Record,
    SubjectIdentifier,
    Suppression,
)

__all__ = [
    "AuditCheck",
    "AuditEntry",
    "DataCategory",
    "DataSubject",
    "Disclosure",
    "ErasureTombstone",
    "LegalBasis",
    "LegalHold",
    "Organisation",
    "OrganisationApiToken",
    "ProcessingStop",
    "Purpose",
    "Recipient",
    "Record",
    "RecordStoreJob",
    "RetentionRule",
    "StaffMembership",
    "SubjectIdentifier",
    "Suppression",
    "SweepRun",
]
