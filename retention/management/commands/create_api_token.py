"""Create an API token for an organisation's own systems (shown once).

With -v 0 only the token is printed, for scripts: `TOKEN=$(manage.py create_api_token -v 0 ...)`.
"""

from django.core.management.base import BaseCommand, CommandError

from retention.models import Organisation
from retention.services.api_tokens import api_token_create


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("organisation", metavar="SLUG")
        parser.add_argument("name", help="what the token is for, e.g. 'CRM'")

    def handle(self, *args, organisation, name, **options):
        org = Organisation.objects.filter(slug=organisation).first()
        if org is None:
            raise CommandError(f"No organisation with the slug {organisation!r}")
        token = api_token_create(organisation=org, name=name)
        if options["verbosity"] < 1:
            self.stdout.write(token)
            return
        self.stdout.write(f"Token for {org.slug} ({name}), shown only once:\n{token}")
