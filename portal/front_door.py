"""The portal's root address `/`: what a person sees who types the bare address.

`settings.FRONT_DOOR` decides (see the README, "Configuration"):

- `list`: the organisations served, each with a link to its own page;
- `redirect:<url>`: a redirect, for a deployment that serves one organisation or has a
  home page elsewhere;
- `404`: the portal's own "page not found" page (never Django's debug page, which lists
  the URL patterns, even with DEBUG=true).
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from portal.errors import page_not_found
from retention.models import Organisation


@require_safe
def front_door(http_request):
    mode = settings.FRONT_DOOR
    if mode.startswith("redirect:"):
        return redirect(mode.removeprefix("redirect:"))
    if mode == "404":
        return page_not_found(http_request, None)
    organisations = Organisation.objects.order_by("display_name").only(
        "slug", "display_name", "legal_name"
    )
    return render(http_request, "front_door.html", {"organisations": organisations})
