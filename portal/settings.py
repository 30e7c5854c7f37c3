"""Settings, all from the environment (django-environ).

Every variable is listed in `.env.example` and in the README's configuration
table. A bad value raises `ImproperlyConfigured` naming the variable; with
`DEBUG=false` the portal refuses to start without a real `SECRET_KEY`, the
`HMAC_KEYS_*` keyrings and `ALLOWED_HOSTS`. Secrets may also come from a file:
`SECRET_KEY_FILE`, `HMAC_KEYS_TOKEN_FILE`, ...
"""

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal.api_tags import SPECTACULAR_TAGS

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)


def _get(name: str, cast, default=environ.Env.NOTSET):
    """Read one variable; any parsing error names the variable."""
    try:
        return cast(name, default=default)
    except ImproperlyConfigured as exc:
        if str(exc).startswith(f"{name}:"):
            raise
        raise ImproperlyConfigured(f"{name}: {exc}") from exc
    except Exception as exc:  # ValueError, TypeError, ... from the cast
        raise ImproperlyConfigured(f"{name}: invalid value ({exc})") from exc


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {raw!r}")


def _secret(name: str, default: str = "") -> str:
    """A secret from NAME or from the file named by NAME_FILE."""
    file_name = env.str(f"{name}_FILE", default="")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name} ({exc})") from exc
    return env.str(name, default=default)


DEBUG = _bool("DEBUG", default=False)
# seed_demo and ensure_demo_staff refuse to run unless DEBUG was on at start-up (issue 17).
DEMO_DATA_ALLOWED = DEBUG
VAR_DIR = Path(_get("VAR_DIR", env.path, default=str(BASE_DIR / "var")))

SECRET_KEY = _secret("SECRET_KEY")
_INSECURE_KEYS = {"", "change-me", "changeme", "secret"}
if not DEBUG and (
    SECRET_KEY in _INSECURE_KEYS
    or SECRET_KEY.startswith(("django-insecure", "dev-", "CHANGE"))
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "SECRET_KEY: with DEBUG=false a real secret of at least 50 random characters is required"
    )
if DEBUG and not SECRET_KEY:
    SECRET_KEY = "dev-insecure-key-only-for-DEBUG-true-" + "x" * 20
# Earlier SECRET_KEYs, still accepted for sessions, CSRF tokens and signed values while
# a rotation settles (comma-separated; Django's SECRET_KEY_FALLBACKS).
SECRET_KEY_FALLBACKS = [k.strip() for k in _secret("SECRET_KEY_FALLBACKS").split(",") if k.strip()]

# Keys of the keyed hashes (retention.keyring), one keyring per purpose and none derived
# from SECRET_KEY: HMAC_KEYS_TOMBSTONE, HMAC_KEYS_SUPPRESSION, HMAC_KEYS_TOKEN (or *_FILE),
# each comma-separated kid:base64url, the first signs, all check. Required with
# DEBUG=false; with DEBUG=true an unset one is derived from SECRET_KEY (id "derived").
from retention import keyring as _keyring  # noqa: E402

HMAC_KEYS: dict[str, list[tuple[str, bytes]]] = {}
for _purpose, _name in _keyring.SETTING_NAMES.items():
    try:
        _keys = _keyring.hmac_keys_parse(_secret(_name))
    except _keyring.KeyringError as exc:
        raise ImproperlyConfigured(f"{_name}: {exc}") from None
    if not _keys:
        if not DEBUG:
            raise ImproperlyConfigured(
                f"{_name}: required when DEBUG=false (kid:base64url of 32 random bytes; make "
                "one with `python manage.py hmac_key` and see the README on key rotation)"
            )
        _keys = [
            (
                _keyring.DERIVED_KID,
                _keyring.hmac_key_derived(purpose=_purpose, secret_key=SECRET_KEY),
            )
        ]
    HMAC_KEYS[_purpose] = _keys

ALLOWED_HOSTS = _get("ALLOWED_HOSTS", env.list, default=["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS: required when DEBUG=false (comma-separated host names)"
    )
CSRF_TRUSTED_ORIGINS = _get("CSRF_TRUSTED_ORIGINS", env.list, default=[])

TIME_ZONE = env.str("TIME_ZONE", default="Europe/Stockholm")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE: unknown time zone {TIME_ZONE!r}") from exc
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",  # django.contrib.admin, behind TOTP (portal/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our static files
    "django_celery_beat",
    "retention",
    "requests_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files keep their caching: CSP and no-store.
    "portal.security.SecurityHeadersMiddleware",
    "portal.security.RefuseNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it answers 503 for a view that lost the database (portal/errors.py).
    "portal.errors.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
if not env.str("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL: not set. Start the portal with `make run` (which starts an embedded "
        "PostgreSQL) or set DATABASE_URL=postgres://user:password@host:5432/name"
    )
DATABASES = {"default": _get("DATABASE_URL", env.db_url)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL: the portal needs PostgreSQL (postgres://...)")
DATABASES["default"]["CONN_MAX_AGE"] = _get("DATABASE_CONN_MAX_AGE", env.int, default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, cache and rate limits ----------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        "REDIS_URL: not set or not a redis:// URL. Start the portal with `make run` (which "
        "starts an embedded Redis) or set REDIS_URL=redis://host:6379/0"
    )
# Connect and read timeout (seconds) of every Redis call on a request path: rate limits,
# the outbox's publish after commit, the cache and /healthz. After one times out, the
# process stops calling that Redis for REDIS_BREAKER_SECONDS (requests_app.breaker): a frozen
# Redis costs a request at most one timeout per window, never one per call.
REDIS_TIMEOUT = _get("REDIS_TIMEOUT", env.float, default=0.5)
REDIS_BREAKER_SECONDS = _get("REDIS_BREAKER_SECONDS", env.float, default=5.0)
if not 0 < REDIS_TIMEOUT <= 5:
    raise ImproperlyConfigured("REDIS_TIMEOUT: between 0 and 5 seconds (e.g. 0.5)")
if REDIS_BREAKER_SECONDS < 0:
    raise ImproperlyConfigured("REDIS_BREAKER_SECONDS: 0 or more")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "dsr",
        "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker died is redelivered after this many seconds (Redis has no
# broker-side acks). Jobs also keep a lease in the database (see README).
CELERY_VISIBILITY_TIMEOUT = _get("CELERY_VISIBILITY_TIMEOUT", env.int, default=300)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_BEAT_SCHEDULER = "portal.beat:HeartbeatScheduler"  # DatabaseScheduler + heartbeat

# --- E-mail -----------------------------------------------------------------
# Default: every message is written to a file under var/mail/.
MAIL_DIR = VAR_DIR / "mail"
EMAIL_CONFIG = _get("EMAIL_URL", env.email_url, default=f"filemail://{MAIL_DIR}")
vars().update(EMAIL_CONFIG)
if EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend":
    # django-environ drops the leading "/" of filemail:///abs/path; a relative
    # path (filemail://var/mail) is relative to the project.
    _email_url = env.str("EMAIL_URL", default="")
    _path = (EMAIL_CONFIG.get("EMAIL_FILE_PATH") or "").lstrip("/")
    if not _email_url or not _path:
        EMAIL_FILE_PATH = str(MAIL_DIR)
    elif _email_url.startswith("filemail:///"):
        EMAIL_FILE_PATH = "/" + _path
    else:
        EMAIL_FILE_PATH = str(BASE_DIR / _path)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="DSR Portal <no-reply@dsr-portal.localhost>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security ---------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Content-Security-Policy and Cache-Control: no-store on every answer: portal/security.py.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz(/live|/ready)?$"]
    SECURE_HSTS_SECONDS = _get("SECURE_HSTS_SECONDS", env.int, default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    # drf-spectacular's, with operations tagged by audience and resource.
    "DEFAULT_SCHEMA_CLASS": "portal.api_schema.TaggedAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DSR Portal API",
    "DESCRIPTION": "File and follow GDPR data-subject requests.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "TAGS": SPECTACULAR_TAGS,
    # /api/docs/: Swagger UI from our own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging: no personal data is ever passed to a logger -------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL: unknown level {LOG_LEVEL!r}")
# Every handler redacts what other code may put in a record: exception messages become
# their class, query strings are cut (portal/logs.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact": {"()": "portal.logs.RedactFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Intake -----------------------------------------------------------------
# Public request pages, the request API, e-mail verification and rate limits
# (requests_app). Links in e-mails point at PORTAL_BASE_URL.
# Default: http://127.0.0.1:8000 with DEBUG, else https://<first ALLOWED_HOSTS entry>.
_first_host = ALLOWED_HOSTS[0] if ALLOWED_HOSTS else ""
PORTAL_BASE_URL = env.str(
    "PORTAL_BASE_URL",
    default="http://127.0.0.1:8000"
    if DEBUG
    else (f"https://{_first_host}" if _first_host and "*" not in _first_host else ""),
)
if not PORTAL_BASE_URL.startswith(("http://", "https://")) or PORTAL_BASE_URL.startswith(
    "https://."
):
    raise ImproperlyConfigured(
        "PORTAL_BASE_URL: the public address of the portal (https://portal.example.org), "
        "used in links in e-mails; required when ALLOWED_HOSTS starts with a wildcard"
    )
# What the portal's root address `/` answers: "list" (the organisations served, each
# with a link to its page), "redirect:<url>" (a 302 to an organisation's own site or
# one organisation's page) or "404" (a plain, styled "page not found"). Never a debug
# page, whatever DEBUG says.
FRONT_DOOR = env.str("FRONT_DOOR", default="").strip() or "list"
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"
if not (
    FRONT_DOOR in {"list", "404"}
    or (FRONT_DOOR.startswith("redirect:") and len(FRONT_DOOR) > len("redirect:"))
):
    raise ImproperlyConfigured(
        f"FRONT_DOOR: expected list, 404 or redirect:<url>, got {FRONT_DOOR!r}"
    )
# Requests nobody verified are deleted with their personal data after this long.
UNVERIFIED_REQUEST_TTL_HOURS = _get("UNVERIFIED_REQUEST_TTL_HOURS", env.int, default=24)
if UNVERIFIED_REQUEST_TTL_HOURS < 1:
    raise ImproperlyConfigured("UNVERIFIED_REQUEST_TTL_HOURS: must be at least 1")
VERIFICATION_CODE_TTL_MINUTES = 10
VERIFICATION_MAX_ATTEMPTS = 5
STATUS_LINK_TTL_HOURS = 72
STATUS_API_TOKEN_TTL_MINUTES = 60
# Rate limits: (attempts, window in seconds) per action, per client IP and per
# e-mail address, counted atomically in Redis and shared by all web processes.
RATE_LIMIT_REDIS_URL = REDIS_URL
# The reverse proxies in front of the portal (IP addresses or networks, comma-separated).
# Only a request coming from one of them has its client address read from
# X-Forwarded-For (the rightmost address that is not a trusted proxy); every other
# request is its REMOTE_ADDR, whatever headers it sends (requests_app.ratelimit.client_ip).
import ipaddress  # noqa: E402

TRUSTED_PROXIES = []
for _proxy in _get("TRUSTED_PROXIES", env.list, default=[]):
    try:
        TRUSTED_PROXIES.append(ipaddress.ip_network(_proxy.strip(), strict=False))
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network (e.g. 10.0.0.0/8)"
        ) from None
# A person's browser session (the status page, after a code or link) lasts this long;
# staff sessions set their own (STAFF_SESSION_*).
PUBLIC_SESSION_MINUTES = _get("PUBLIC_SESSION_MINUTES", env.int, default=60)
if not 5 <= PUBLIC_SESSION_MINUTES <= 24 * 60:
    raise ImproperlyConfigured("PUBLIC_SESSION_MINUTES: between 5 and 1440 minutes")
SESSION_COOKIE_AGE = PUBLIC_SESSION_MINUTES * 60
INTAKE_RATE_LIMITS = {
    "submit": {"ip": (20, 3600), "email": (5, 3600)},
    "verify": {"ip": (30, 600), "email": (15, 600)},
    "resend": {"ip": (10, 3600), "email": (4, 3600)},
    # GET /healthz, the full report (portal/health.py); /healthz/live and /ready are not limited.
    "healthz": {"ip": (60, 60)},
}
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "requests_app.api.errors.api_exception_handler"
# The outbox relay (beat, every minute) also publishes again a message no worker finished
# this many seconds after it was handed to Redis (which may have lost it), waiting twice as
# long before each next time, and gives up after OUTBOX_REDELIVER_MAX times (staff digest).
OUTBOX_REDELIVER_AFTER = _get("OUTBOX_REDELIVER_AFTER", env.int, default=900)
OUTBOX_REDELIVER_MAX = _get("OUTBOX_REDELIVER_MAX", env.int, default=5)
# How often beat runs the relay (seconds).
OUTBOX_RELAY_INTERVAL = _get("OUTBOX_RELAY_INTERVAL", env.float, default=60.0)
if OUTBOX_RELAY_INTERVAL < 1:
    raise ImproperlyConfigured("OUTBOX_RELAY_INTERVAL: at least 1 second")
if OUTBOX_REDELIVER_AFTER <= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "OUTBOX_REDELIVER_AFTER: must be longer than CELERY_VISIBILITY_TIMEOUT (Redis hands a "
        "task whose worker died to another worker after that long; do not race it)"
    )
if OUTBOX_REDELIVER_MAX < 0:
    raise ImproperlyConfigured("OUTBOX_REDELIVER_MAX: must be 0 or more")

# --- Retention sweeps ---------------------------------------------------------
SWEEP_BATCH_SIZE = _get("SWEEP_BATCH_SIZE", env.int, default=5000)
SWEEP_PARTS = _get("SWEEP_PARTS", env.int, default=4)  # chunks a sweep is split into
SWEEP_SCHEDULE = env.str("SWEEP_SCHEDULE", default="30 2 * * *")  # cron, in TIME_ZONE
# A running sweep with no batch finished for this long has lost a chunk: resumed (beat).
SWEEP_LEASE_SECONDS = _get("SWEEP_LEASE_SECONDS", env.int, default=300)
if SWEEP_LEASE_SECONDS < 10:
    raise ImproperlyConfigured("SWEEP_LEASE_SECONDS: at least 10")
if SWEEP_BATCH_SIZE < 1 or SWEEP_PARTS < 1:
    raise ImproperlyConfigured("SWEEP_BATCH_SIZE, SWEEP_PARTS: must be positive")
if len(SWEEP_SCHEDULE.split()) != 5:
    raise ImproperlyConfigured("SWEEP_SCHEDULE: expected five cron fields, e.g. '30 2 * * *'")

# --- Record-store jobs (erasure, ...) ------------------------------------------
JOB_LEASE_SECONDS = _get("JOB_LEASE_SECONDS", env.int, default=120)
JOB_BATCH_SIZE = _get("JOB_BATCH_SIZE", env.int, default=1000)
JOB_BATCH_PAUSE_SECONDS = _get("JOB_BATCH_PAUSE_SECONDS", env.float, default=0.0)
JOB_MAX_ATTEMPTS = _get("JOB_MAX_ATTEMPTS", env.int, default=5)
JOB_RECLAIM_INTERVAL = _get("JOB_RECLAIM_INTERVAL", env.int, default=60)

# --- Audit trail: daily check and export of its head ------------------------------
# Beat checks the whole hash chain on this cron (TIME_ZONE) and appends the chain's head
# to AUDIT_HEADS_FILE (outside the database; keep it, or ship it elsewhere, with the logs).
AUDIT_CHECK_SCHEDULE = env.str("AUDIT_CHECK_SCHEDULE", default="15 3 * * *")
AUDIT_HEADS_FILE = Path(
    _get("AUDIT_HEADS_FILE", env.path, default=str(VAR_DIR / "audit" / "chain-heads.log"))
)
if len(AUDIT_CHECK_SCHEDULE.split()) != 5:
    raise ImproperlyConfigured("AUDIT_CHECK_SCHEDULE: expected five cron fields, e.g. '15 3 * * *'")
# The database role that owns the tables and runs the migrations (`manage.py migrate`
# only); the app itself connects as DATABASE_URL's role, which may only read and append
# to the audit trail (retention.services.database). Unset: one role does both.
DATABASE_OWNER = (
    _get("DATABASE_OWNER_URL", env.db_url) if env.str("DATABASE_OWNER_URL", default="") else None
)
if DATABASE_OWNER is not None and DATABASE_OWNER.get("ENGINE") != DATABASES["default"]["ENGINE"]:
    raise ImproperlyConfigured("DATABASE_OWNER_URL: the portal needs PostgreSQL (postgres://...)")

# --- Staff ---------------------------------------------------------------------
# The staff pages (requests_app.staff, /staff/) and API (requests_app.api.staff): password
# plus TOTP (django-otp), lockouts counted in the cache (Redis), idle and absolute
# session limits, recent re-authentication before destructive actions.
from celery.schedules import crontab  # noqa: E402

# otp_static: one-time recovery codes (requests_app/services/staff_recovery.py).
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
LOGIN_URL = "staff:login"
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="DSR Portal")
STAFF_LOGIN_MAX_FAILURES = _get("STAFF_LOGIN_MAX_FAILURES", env.int, default=5)
STAFF_LOGIN_COOLOFF_SECONDS = _get("STAFF_LOGIN_COOLOFF_SECONDS", env.int, default=900)
# Failures from one address (any account) before it waits; failures of one account (any
# address) before it asks for password and code together (requests_app.services.staff_auth).
STAFF_LOGIN_IP_MAX_FAILURES = _get("STAFF_LOGIN_IP_MAX_FAILURES", env.int, default=20)
STAFF_LOGIN_ACCOUNT_MAX_FAILURES = _get("STAFF_LOGIN_ACCOUNT_MAX_FAILURES", env.int, default=10)
STAFF_SESSION_IDLE_MINUTES = _get("STAFF_SESSION_IDLE_MINUTES", env.int, default=30)
STAFF_SESSION_MAX_HOURS = _get("STAFF_SESSION_MAX_HOURS", env.int, default=10)
STAFF_REAUTH_MINUTES = _get("STAFF_REAUTH_MINUTES", env.int, default=10)
STAFF_API_TOKEN_DAYS = _get("STAFF_API_TOKEN_DAYS", env.int, default=90)
STAFF_DIGEST_DAYS = 7
for _name in (
    "STAFF_LOGIN_MAX_FAILURES",
    "STAFF_LOGIN_COOLOFF_SECONDS",
    "STAFF_LOGIN_IP_MAX_FAILURES",
    "STAFF_LOGIN_ACCOUNT_MAX_FAILURES",
    "STAFF_SESSION_IDLE_MINUTES",
    "STAFF_SESSION_MAX_HOURS",
    "STAFF_REAUTH_MINUTES",
    "STAFF_API_TOKEN_DAYS",
):
    if vars()[_name] < 1:
        raise ImproperlyConfigured(f"{_name}: must be a positive number")
# --- Access and portability packages (requests_app.services.packages) ----------------
# Workers build them encrypted at rest under PACKAGE_DIR, which the web processes
# must see too (docker compose: the shared `var` volume). A released package can be
# downloaded for PACKAGE_TTL_DAYS, only by a person who proved their e-mail address
# with a fresh code within PACKAGE_DOWNLOAD_PROOF_MINUTES; beat deletes expired files.
PACKAGE_DIR = Path(_get("PACKAGE_DIR", env.path, default=str(VAR_DIR / "packages")))
PACKAGE_TTL_DAYS = _get("PACKAGE_TTL_DAYS", env.int, default=7)
PACKAGE_DOWNLOAD_PROOF_MINUTES = _get("PACKAGE_DOWNLOAD_PROOF_MINUTES", env.int, default=10)
PACKAGE_EXPIRY_INTERVAL = _get("PACKAGE_EXPIRY_INTERVAL", env.int, default=900)
for _name in ("PACKAGE_TTL_DAYS", "PACKAGE_DOWNLOAD_PROOF_MINUTES", "PACKAGE_EXPIRY_INTERVAL"):
    if vars()[_name] < 1:
        raise ImproperlyConfigured(f"{_name}: must be a positive number")
# AES-256-GCM keys, base64url of 32 bytes (`python manage.py package_key`); several,
# comma-separated, for rotation: the first encrypts, every one decrypts. Unset: a key
# derived from SECRET_KEY (HKDF), so changing SECRET_KEY makes open packages unreadable.
import base64  # noqa: E402

PACKAGE_ENCRYPTION_KEYS = []
for _key in _secret("PACKAGE_ENCRYPTION_KEY").split(","):
    if not _key.strip():
        continue
    try:
        _raw = base64.urlsafe_b64decode(_key.strip() + "=" * (-len(_key.strip()) % 4))
    except ValueError:
        _raw = b""
    if len(_raw) != 32:
        raise ImproperlyConfigured(
            "PACKAGE_ENCRYPTION_KEY: each key is 32 random bytes, base64url-encoded "
            "(make one with `python manage.py package_key`)"
        )
    PACKAGE_ENCRYPTION_KEYS.append(_raw)

# --- Beat: every periodic task, in one place -----------------------------------------
# Stored by django-celery-beat in the database at start-up; a task is named by its `name=`.
CELERY_BEAT_SCHEDULE = {
    "requests-relay-outbox": {
        "task": "requests_app.tasks.relay_outbox",
        "schedule": OUTBOX_RELAY_INTERVAL,
    },
    "requests-purge-unverified": {
        "task": "requests_app.tasks.purge_unverified_requests",
        "schedule": 900.0,
    },
    "retention-jobs-reclaim": {
        "task": "retention.tasks.jobs_reclaim",
        "schedule": JOB_RECLAIM_INTERVAL,
    },
    # A sweep chunk whose worker died is re-enqueued after SWEEP_LEASE_SECONDS.
    "retention-sweeps-resume": {
        "task": "retention.tasks.sweeps_resume",
        "schedule": JOB_RECLAIM_INTERVAL,
    },
    # Every morning at 07:00 in CELERY_TIMEZONE (= TIME_ZONE, Europe/Stockholm by default).
    "staff-deadline-digest": {
        "task": "requests_app.tasks.deadline_digest",
        "schedule": crontab(hour=7, minute=0),
    },
    "retention-audit-check": {
        "task": "retention.tasks.audit_check",
        "schedule": crontab(
            **dict(
                zip(
                    ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"),
                    AUDIT_CHECK_SCHEDULE.split(),
                    strict=True,
                )
            )
        ),
    },
    "requests-packages-expire": {
        "task": "requests_app.tasks.packages_expire",
        "schedule": float(PACKAGE_EXPIRY_INTERVAL),
    },
    "requests-packages-resume": {
        "task": "requests_app.tasks.packages_resume",
        "schedule": float(JOB_RECLAIM_INTERVAL),
    },
}
