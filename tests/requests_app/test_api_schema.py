"""The OpenAPI schema as client generators and the Swagger page read it (/api/schema/)."""

from __future__ import annotations

import jsonschema
import pytest
from django.test import Client

READ_OPERATIONS = (
    ("/api/v1/requests/{reference}", "get"),
    ("/api/v1/requests/{reference}/files/{package_id}", "get"),
)


@pytest.fixture
def schema(db) -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_public_token_is_a_bearer_security_scheme_not_a_header_parameter(schema):
    """OpenAPI ignores header parameters named Authorization, so the docs' Authorize
    button could not call these operations: the token is a security scheme instead."""
    scheme = schema["components"]["securitySchemes"]["requestToken"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    for path, method in READ_OPERATIONS:
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"requestToken": []}], path
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "Authorization" not in headers, path


def test_the_calls_without_a_token_need_no_security_scheme(schema):
    """Filing, verifying and resending take no token: the docs must not ask for one."""
    for path in (
        "/api/v1/requests",
        "/api/v1/requests/{reference}/verify",
        "/api/v1/requests/{reference}/resend",
    ):
        security = schema["paths"][path]["post"].get("security", [{}])
        assert all(not entry for entry in security), (path, security)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


KNOWN_TAGS = {"public: requests", "staff: requests", "staff: organisations", "record store"}


def test_every_operation_is_tagged_by_audience_and_resource_not_by_version(schema):
    """Every operation has exactly one of the known tags (none is tagged `v1`), and the
    schema describes each tag it uses."""
    described = {tag["name"] for tag in schema["tags"]}
    assert described == KNOWN_TAGS
    seen = set()
    for path, method, operation in operations(schema):
        tags = operation.get("tags", [])
        assert "v1" not in tags, (method, path)
        assert len(tags) == 1 and tags[0] in KNOWN_TAGS, (method, path, tags)
        seen.add(tags[0])
    assert seen == KNOWN_TAGS


@pytest.mark.parametrize(
    ("path", "method", "tag"),
    [
        ("/api/v1/requests", "post", "public: requests"),
        ("/api/v1/requests/{reference}", "get", "public: requests"),
        ("/api/v1/staff/requests", "get", "staff: requests"),
        ("/api/v1/staff/requests/{reference}/approve", "post", "staff: requests"),
        ("/api/v1/staff/organisations/{org_slug}/auto-release", "get", "staff: organisations"),
        ("/api/v1/store/subjects", "post", "record store"),
        ("/api/v1/store/processing-check", "get", "record store"),
    ],
)
def test_each_audience_finds_its_operations_under_its_tag(schema, path, method, tag):
    assert schema["paths"][path][method]["tags"] == [tag]


@pytest.mark.parametrize(
    "how",
    [
        {},  # the site's default, LANGUAGE_CODE = "sv"
        {"HTTP_ACCEPT_LANGUAGE": "sv"},
        {"lang": "sv"},  # drf-spectacular's own switch
    ],
    ids=["default", "accept-language", "lang-parameter"],
)
def test_the_schema_is_written_in_english_whatever_the_site_language(db, settings, how):
    """The enum descriptions come from translatable choice labels; the schema is the
    same English one for every reader and every generated client."""
    assert settings.LANGUAGE_CODE == "sv"
    headers = {key: value for key, value in how.items() if key.startswith("HTTP_")}
    query = {"format": "json", **{k: v for k, v in how.items() if not k.startswith("HTTP_")}}
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "sv"
    text = client.get("/api/schema/", query, **headers).content.decode()
    assert "* `new` - Received" in text
    assert "* `access` - Access to my data (Art. 15)" in text
    for swedish in ("Mottagen", "Tillgång", "radering", "Väntar på"):
        assert swedish not in text
    assert not set("åäöÅÄÖ") & set(text)


def responses(schema: dict):
    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            yield path, method, code, response


def test_every_response_has_a_description(schema):
    """Issue 17: "Every response has a description" (the docs page and generated
    clients show it; drf-spectacular leaves it empty for a bare serializer)."""
    missing = [
        (method, path, code)
        for path, method, code, response in responses(schema)
        if not response.get("description", "").strip()
    ]
    assert not missing


def examples_of(operation: dict):
    """(where, media type schema, example value) of every example of an operation."""
    contents = [("request", operation.get("requestBody", {}).get("content", {}))]
    contents += [(code, r.get("content", {})) for code, r in operation["responses"].items()]
    for where, content in contents:
        for media in content.values():
            for example in media.get("examples", {}).values():
                yield where, media["schema"], example["value"]


def test_every_operation_has_an_example(schema):
    """Issue 17: "every operation has an example", of what it takes or what it answers."""
    without = [
        (method, path)
        for path, method, operation in operations(schema)
        if not any(True for _example in examples_of(operation))
    ]
    assert not without
    assert len(list(operations(schema))) >= 30


def as_json_schema(node, components: dict):
    """OpenAPI 3.0's schema dialect as JSON Schema: `$ref`s resolved, `nullable` as null."""
    if isinstance(node, list):
        return [as_json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return as_json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    converted = {key: as_json_schema(value, components) for key, value in node.items()}
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def test_every_example_has_the_shape_it_documents(schema):
    """An example that does not match its schema misleads the reader and the clients
    generated from it: each one is checked against the schema it illustrates."""
    components = schema["components"]["schemas"]
    wrong = []
    for path, method, operation in operations(schema):
        for where, media_schema, value in examples_of(operation):
            validator = jsonschema.Draft202012Validator(as_json_schema(media_schema, components))
            for error in validator.iter_errors(value):
                wrong.append(f"{method} {path} {where}: {error.message} at {error.json_path}")
    assert not wrong, "\n".join(wrong)
