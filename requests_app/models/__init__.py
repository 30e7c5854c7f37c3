"""The models of the request workflow, one module per part of it (pretix `base/models/`).

- `intake`: the request, the proof of who asked, secrets, events and the outbox;
- `staff`: notes, questions to the person, identity checks, approvals, API tokens;
- `fulfilment`: carrying out a right (corrections, objections, recipients, restrictions);
- `packages`: access and portability packages and the organisation's package settings.

Every model keeps its table (`requests_app_<model>`) and the app label `requests_app`.
"""

from requests_app.models.fulfilment import (
    CorrectionDecision,
    Fulfilment,
    ObjectionDecision,
    RecipientNotification,
    RestrictionLift,
)
from requests_app.models.intake import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    ClockPause,
    Language,
    MatchMethod,
    OutboxMessage,
    ProofMethod,
    RequestEvent,
    RequestKind,
    RequestStatus,
    RequestSubjectMatch,
    StatusToken,
    SubjectRequest,
    VerificationCode,
)
from requests_app.models.packages import DataPackage, OrganisationSettings
from requests_app.models.staff import (
    IdentityCheck,
    IdentityMethod,
    InformationRequest,
    InternalNote,
    RefusalReason,
    RequestApproval,
    RequestResolution,
    SavedQueueFilter,
    StaffApiToken,
    StaffPreference,
)

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "ClockPause",
    "CorrectionDecision",
    "DataPackage",
    "Fulfilment",
    "IdentityCheck",
    "IdentityMethod",
    "InformationRequest",
    "InternalNote",
    "Language",
    "MatchMethod",
    "ObjectionDecision",
    "OrganisationSettings",
    "OutboxMessage",
    "ProofMethod",
    "RecipientNotification",
    "RefusalReason",
    "RequestApproval",
    "RequestEvent",
    "RequestKind",
    "RequestResolution",
    "RequestStatus",
    "RequestSubjectMatch",
    "RestrictionLift",
    "SavedQueueFilter",
    "StaffApiToken",
    "StaffPreference",
    "StatusToken",
    "SubjectRequest",
    "VerificationCode",
]
