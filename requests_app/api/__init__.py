"""The public request API (/api/v1/), documented in OpenAPI by drf-spectacular."""
