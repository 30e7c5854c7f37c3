import pytest


@pytest.fixture
def organisations(db):
    """The five organisations, loaded from their policy files."""
    from retention.models import Organisation
    from retention.services.policies import policies_load

    policies_load()
    return {org.slug: org for org in Organisation.objects.all()}
