"""The OpenAPI schema's tags: audience and resource (portal.api_schema tags by these).

Plain data, so that settings can list them (SPECTACULAR_SETTINGS["TAGS"]) without
importing drf-spectacular.
"""

from __future__ import annotations

# (path prefix, tag, description): the tags, in the order the docs page lists them.
TAGS = (
    (
        "/api/v1/requests",
        "public: requests",
        "For the data subject: file a request, verify it with the e-mailed code, follow it "
        "and download its answer with the bearer token from the verify call.",
    ),
    (
        "/api/v1/staff/requests",
        "staff: requests",
        "For staff integrations (a personal staff token): the queue, one request, and the "
        "actions on it.",
    ),
    (
        "/api/v1/staff/organisations",
        "staff: organisations",
        "For staff integrations: an organisation's settings (automatic release).",
    ),
    (
        "/api/v1/store/",
        "record store",
        "For the organisation's own systems (an organisation token): upsert subjects, "
        "check processing against objections and restrictions, the marketing audience.",
    ),
)

SPECTACULAR_TAGS = [{"name": tag, "description": text} for _prefix, tag, text in TAGS]
