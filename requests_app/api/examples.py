"""The OpenAPI schema's examples for the public and staff APIs (/api/schema/, /api/docs/).

Every operation shows at least one example, so the docs page and generated clients show
what a call sends and gets back. The values are made up (the demo organisation
`framsteget`, Anna Andersson) but have the shapes the API really answers:
tests/requests_app/test_api_schema.py checks every example against the schema of what it
illustrates.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from requests_app.selectors.fulfilment import fulfilment_state_empty

REFERENCE = "DSR-7K3M-Q9TB-2XWD"
EMAIL = "anna.andersson@example.se"


def request_example(name: str, value: dict, *, summary: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary, request_only=True)


def response_example(name: str, value, *, status: int = 200, summary: str = "") -> OpenApiExample:
    return OpenApiExample(
        name, value=value, summary=summary, response_only=True, status_codes=[str(status)]
    )


def error_example(name: str, *, status: int, code: str, message: str, fields=None):
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    return response_example(name, body, status=status)


# --- The public request API (requests_app/api/public.py) ----------------------

CREATE = [
    request_example(
        "Erasure of everything",
        {
            "organisation": "framsteget",
            "type": "erasure",
            "email": EMAIL,
            "full_name": "Anna Andersson",
            "language": "sv",
            "scope": "all",
            "ground": "a",
        },
    ),
    response_example(
        "Filed",
        {
            "reference": REFERENCE,
            "type": "erasure",
            "status": "unverified",
            "received_at": "2026-03-02T09:14:00+01:00",
            "due_date": "2026-04-02",
        },
        status=201,
    ),
    error_example(
        "An invalid e-mail address",
        status=400,
        code="invalid",
        message="The request has errors; see the fields.",
        fields={"email": ["Enter a valid email address."]},
    ),
]

RETRIEVE = [
    response_example(
        "Being handled",
        {
            "reference": REFERENCE,
            "organisation": "framsteget",
            "type": "erasure",
            "status": "in_progress",
            "status_display": "Being handled",
            "received_at": "2026-03-02T09:14:00+01:00",
            "due_date": "2026-04-02",
            "original_due_date": "2026-04-02",
            "extended_due_date": None,
            "extension_reason": "",
            "linked_to": None,
            "pauses": [],
            "history": [
                {
                    "event": "submitted",
                    "description": "Request received",
                    "at": "2026-03-02T09:14:00+01:00",
                },
                {
                    "event": "verified",
                    "description": "E-mail address confirmed",
                    "at": "2026-03-02T09:16:30+01:00",
                },
            ],
            "downloads": [],
            "files": [],
        },
    ),
]

VERIFY = [
    request_example("The e-mailed code", {"code": "483920"}),
    response_example(
        "A bearer token for this request",
        {
            "reference": REFERENCE,
            "token": "kX3v9QeR0b2yJtZ7mN4pL8sW1cA6dF5h",
            "token_type": "Bearer",
            "expires_at": "2026-03-02T10:16:30+01:00",
        },
    ),
    error_example(
        "A wrong code",
        status=400,
        code="wrong_code",
        message="The code is not right. Tries left: 4.",
        fields={"code": ["The code is not right."]},
    ),
]

RESEND = [request_example("The address the request was filed with", {"email": EMAIL})]

FILE = [
    error_example(
        "The token is too old to download",
        status=403,
        code="fresh_proof_required",
        message="Confirm your e-mail address again: ask for a new code (resend), verify it "
        "and use the new token within 10 minutes.",
    ),
    error_example(
        "The download has expired",
        status=410,
        code="expired",
        message="The download has expired and the file has been deleted.",
    ),
]

# --- The staff API (requests_app/api/staff/) ------------------------------------

QUEUE_ITEM = {
    "reference": REFERENCE,
    "organisation": "framsteget",
    "type": "access",
    "status": "in_progress",
    "received_at": "2026-03-02T09:14:00+01:00",
    "due_date": "2026-04-02",
    "days_left": 12,
    "assignee": "handler",
}
# drf-spectacular puts a list view's example into the pagination envelope.
QUEUE = [response_example("A request being handled", QUEUE_ITEM)]

MATCH = {
    "id": 41,
    "subject_id": 1042,
    "methods": ["email"],
    "included": True,
    "proven": True,
    "proven_by": "email",
    "identity_check": None,
}

DETAIL = [
    response_example(
        "An access request being handled",
        {
            **QUEUE_ITEM,
            "full_name": "Anna Andersson",
            "email": EMAIL,
            "language": "sv",
            "details": {},
            "verified_at": "2026-03-02T09:16:30+01:00",
            "match_method": "email",
            "match_summary": "",
            "matches": [MATCH],
            "original_due_date": "2026-04-02",
            "extended_due_date": None,
            "extension_reason": "",
            "records_summary": [
                {"subject_id": 1042, "category": "Contact details", "records": 2, "restricted": 0}
            ],
            "timeline": [
                {
                    "at": "2026-03-03T08:02:11+01:00",
                    "action": "requests.request.assigned",
                    "label": "Assigned",
                    "actor": "handler",
                    "data": {"assignee_id": 7},
                }
            ],
            "fulfilment": fulfilment_state_empty(),
            "package": None,
            "allowed_actions": ["note", "ask", "extend", "approve", "refuse", "cancel"],
        },
    )
]

MATCH_INCLUDE = [response_example("Included again", MATCH)]
MATCH_EXCLUDE = [response_example("Excluded", {**MATCH, "included": False})]

# An action's body, and the request's status after it.
ACTION_BODIES = {
    "assign": ({"assignee": "handler"}, "in_progress"),
    "unassign": ({}, "in_progress"),
    "notes": ({"body": "Called the customer service; the account is closed."}, "in_progress"),
    "ask": ({"question": "Which customer number did you have?"}, "awaiting_subject"),
    "identity": (
        {"match": 41, "method": "bankid", "note": "Signed with BankID on 3 March."},
        "in_progress",
    ),
    "extend": ({"months": 2, "reason": "Records in three systems must be searched."}, None),
    "refuse": (
        {"reasons": ["no_data"], "text": "We hold no data about you.", "code": "204816"},
        "refused",
    ),
    "approve": ({"code": "204816"}, "approved"),
    "complete": ({"reply": "Your data has been sent to you."}, "completed"),
    "cancel": ({"note": "The person withdrew the request by phone."}, "cancelled"),
    "plan_approve": ({"code": "204816"}, "fulfilling"),
    "correction_decide": (
        {"index": 0, "decision": "accept", "target": "crm-1042-c:address", "value": ""},
        None,
    ),
    "objection_decide": ({"purpose": "marketing", "compelling": False, "reason": ""}, None),
    "restriction_lift": (
        {"reason": "The accuracy of the data has been verified.", "code": "204816"},
        None,
    ),
    "retry": ({}, "fulfilling"),
    "package_release": ({"code": "204816"}, "completed"),
}


def action_examples(name: str) -> list[OpenApiExample]:
    body, status = ACTION_BODIES[name]
    label = name.replace("_", " ")
    result = {"reference": REFERENCE, "status": status or "in_progress", "due_date": "2026-04-02"}
    if name == "extend":
        result["due_date"] = "2026-06-02"
    return [
        request_example(label.capitalize(), body),
        response_example("The request after the action", result),
        error_example(
            "Not allowed in this state",
            status=409,
            code="invalid_transition",
            message=f"This request is “Completed”: “{label}” is not possible in that state.",
        ),
    ]


AUTO_RELEASE = [response_example("Off", {"organisation": "framsteget", "enabled": False})]
AUTO_RELEASE_SET = [
    request_example("Switch it on", {"enabled": True, "code": "204816"}),
    response_example("On", {"organisation": "framsteget", "enabled": True}),
]
