"""Settings of the intake benchmark: the portal's, plus an empty view and no rate limits.

The benchmark posts thousands of requests from one address; the per-IP and
per-e-mail limits would answer 429 after the first twenty.
"""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
INTAKE_RATE_LIMITS = {
    action: {key: (10**9, window) for key, (_, window) in limits.items()}
    for action, limits in INTAKE_RATE_LIMITS.items()  # noqa: F405
}
