"""The record-store API for the organisations' own systems."""

import pytest
from rest_framework.test import APIClient

from retention.api import AudiencePagination
from retention.models import DataSubject
from retention.services import audience
from retention.services.api_tokens import api_token_create
from retention.services.rights import marketing_objection

COLLECTED = "2026-03-01T10:00:00+01:00"


@pytest.fixture
def store(organisations):
    """An API client holding FRAMSTEGET's token."""
    client = APIClient()
    token = api_token_create(organisation=organisations["framsteget"], name="CRM")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def subject_body(org, external_id: str, email: str) -> dict:
    marketing = org.purposes.filter(direct_marketing=True).first()
    category = marketing.categories.first()
    return {
        "external_id": external_id,
        "identifiers": {"email": [email]},
        "records": [
            {
                "external_id": f"{external_id}-m",
                "category": category.key,
                "purpose": marketing.key,
                "data": {category.fields[0]: "x"},
                "source": "provided",
                "collected_at": COLLECTED,
            }
        ],
    }


def test_it_refuses_calls_without_a_valid_token(organisations):
    client = APIClient()
    assert client.get("/api/v1/store/processing-check").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer dsr_nonsense")
    assert client.get("/api/v1/store/processing-check").status_code == 401


def test_it_upserts_subjects_and_reports_invalid_items(store, organisations):
    org = organisations["framsteget"]
    good = subject_body(org, "crm-1", "ada@example.se")
    bad = {**subject_body(org, "crm-2", "bea@example.se"), "records": [{"category": "nope"}]}
    response = store.post("/api/v1/store/subjects", [good, bad], format="json")
    assert response.status_code == 207
    assert response.json()["subjects_created"] == 1
    assert [i["item"] for i in response.json()["invalid"]] == [2]
    assert response["Cache-Control"] == "no-store"
    again = store.post("/api/v1/store/subjects", good, format="json")
    assert again.status_code == 200 and again.json()["subjects_created"] == 0


def test_it_cannot_write_into_another_organisation(store, organisations):
    body = {**subject_body(organisations["framsteget"], "x", "x@example.se")}
    body["organisation"] = "expektra"
    assert store.post("/api/v1/store/subjects", body, format="json").status_code == 400
    assert not DataSubject.objects.filter(organisation__slug="expektra").exists()


def test_the_processing_check_says_no_after_a_marketing_objection(store, organisations):
    org = organisations["framsteget"]
    store.post(
        "/api/v1/store/subjects", subject_body(org, "crm-1", "ada@example.se"), format="json"
    )
    purpose = org.purposes.filter(direct_marketing=True).first().key
    url = f"/api/v1/store/processing-check?subject=crm-1&purpose={purpose}"
    assert store.get(url).json() == {"allowed": True, "reason": "allowed"}
    subject = DataSubject.objects.get(organisation=org, external_id="crm-1")
    marketing_objection(organisation=org, subject_ids=[subject.pk])
    assert store.get(url).json()["allowed"] is False


def test_another_organisations_subject_is_unknown_here(store, organisations):
    expektra = organisations["expektra"]
    DataSubject.objects.create(organisation=expektra, external_id="shared-id")
    purpose = organisations["framsteget"].purposes.first().key
    response = store.get(f"/api/v1/store/processing-check?subject=shared-id&purpose={purpose}")
    assert response.json() == {"allowed": False, "reason": "no_data"}


def test_the_marketing_audience_never_includes_a_suppressed_subject(store, organisations):
    org = organisations["framsteget"]
    for n, email in enumerate(["ada@example.se", "bea@example.se", "cia@example.se"]):
        store.post("/api/v1/store/subjects", subject_body(org, f"crm-{n}", email), format="json")
    bea = DataSubject.objects.get(organisation=org, external_id="crm-1")
    marketing_objection(organisation=org, subject_ids=[bea.pk])
    # Imported again later by the CRM: still suppressed.
    store.post(
        "/api/v1/store/subjects", subject_body(org, "crm-9", "Bea@Example.se"), format="json"
    )
    purpose = org.purposes.filter(direct_marketing=True).first().key
    response = store.get(f"/api/v1/store/marketing-audience?purpose={purpose}")
    assert response.status_code == 200
    emails = {e for r in response.json()["results"] for e in r["email"]}
    assert emails == {"ada@example.se", "cia@example.se"}


def test_the_marketing_audience_pages_with_a_cursor_in_the_shared_envelope(
    store, organisations, monkeypatch
):
    """Issue 17: "One pagination shape": the audience keeps a cursor (a large audience
    that changes while it is read) in the envelope the staff queue shares:
    `next`, `previous`, `results`; `next` leads to the following page until it is null."""
    monkeypatch.setattr(AudiencePagination, "page_size", 2)
    org = organisations["framsteget"]
    for n in range(3):
        store.post(
            "/api/v1/store/subjects",
            subject_body(org, f"crm-{n}", f"p{n}@example.se"),
            format="json",
        )
    purpose = org.purposes.filter(direct_marketing=True).first().key
    first = store.get(f"/api/v1/store/marketing-audience?purpose={purpose}").json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 2 and first["previous"] is None
    assert "cursor=" in first["next"]
    second = store.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    subjects = {row["subject"] for row in first["results"] + second["results"]}
    assert subjects == {"crm-0", "crm-1", "crm-2"}


def test_every_audience_page_is_full_however_many_suppressed_subjects_it_passes(
    store, organisations, monkeypatch
):
    """Issue 15: the suppression list was applied after paginating, so a page could come out
    short or empty although more subjects followed. Suppressed subjects are interleaved
    here, in runs longer than a page and than a chunk read at a time."""
    monkeypatch.setattr(AudiencePagination, "page_size", 3)
    monkeypatch.setattr(audience, "MIN_CHUNK", 2)
    org = organisations["framsteget"]
    allowed = {0, 4, 5, 11, 12, 13, 19, 20}
    bodies = [subject_body(org, f"crm-{n:02}", f"p{n}@example.se") for n in range(22)]
    assert store.post("/api/v1/store/subjects", bodies, format="json").status_code == 200
    for n in set(range(22)) - allowed:
        marketing_objection(organisation=org, subject_ids=[], email=f"P{n}@example.se")
    purpose = org.purposes.filter(direct_marketing=True).first().key

    pages = [store.get(f"/api/v1/store/marketing-audience?purpose={purpose}").json()]
    while pages[-1]["next"]:
        pages.append(store.get(pages[-1]["next"]).json())

    seen = [row["subject"] for page in pages for row in page["results"]]
    assert seen == [f"crm-{n:02}" for n in sorted(allowed)]  # none skipped, none repeated
    assert [len(page["results"]) for page in pages] == [3, 3, 2]
    emails = {e for page in pages for row in page["results"] for e in row["email"]}
    assert emails == {f"p{n}@example.se" for n in allowed}
    # Back from the last page: the same pages, in the same order.
    back = store.get(pages[-1]["previous"]).json()
    assert back["results"] == pages[1]["results"]
    assert store.get(back["previous"]).json()["results"] == pages[0]["results"]


def test_another_organisations_token_never_sees_this_audience(store, organisations):
    framsteget, expektra = organisations["framsteget"], organisations["expektra"]
    store.post(
        "/api/v1/store/subjects", subject_body(framsteget, "crm-1", "ada@example.se"), format="json"
    )
    purpose = framsteget.purposes.get(direct_marketing=True, key="direct_marketing")
    assert expektra.purposes.filter(key=purpose.key, direct_marketing=True).exists()
    stranger = APIClient()
    token = api_token_create(organisation=expektra, name="CRM")
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = stranger.get(f"/api/v1/store/marketing-audience?purpose={purpose.key}")

    assert response.status_code == 200 and response.json()["results"] == []
    own = store.get(f"/api/v1/store/marketing-audience?purpose={purpose.key}").json()
    assert [row["subject"] for row in own["results"]] == ["crm-1"]
