from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """`django.contrib.admin` whose `admin.site` needs a TOTP-verified session (portal/admin.py)."""

    default_site = "portal.admin.PortalAdminSite"
