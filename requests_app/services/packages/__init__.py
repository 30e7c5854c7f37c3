"""Access (Art. 15) and portability (Art. 20) packages: built, reviewed, released, downloaded.

The life of a package (`DataPackage`, one per request):

1. `package_start` (a worker, called by the fulfilment dispatcher for an
   approved access or portability request): the request goes `fulfilling`
   and the package row is created (`building`) in one transaction; a
   redelivered message finds the row and builds nothing twice.
2. `package_build`: under a PostgreSQL advisory lock (two workers never build
   the same package; a worker that dies releases it with its connection), the
   file is streamed from a server-side cursor straight into an encrypted
   writer (`requests_app.encryption`): the plaintext never touches the disk
   and memory stays bounded whatever the number of records. ACCESS is a ZIP
   with `report.html` (printable, in the request's language, every item of
   Art. 15(1)(a)-(h) and 15(3)) and `data.json` (the same content;
   `requests_app/schemas/access-v1.schema.json`), plus `data.csv` when the
   person asked for CSV. PORTABILITY is one JSON file
   (`portability-v1.schema.json`) or CSV. The package is then `ready`.
3. Staff review it (`package_staff_open`, audited) and release it
   (`package_release`, approver); or the organisation releases automatically
   (`OrganisationSettings.auto_release_packages`), but only when the verified
   e-mail address proved every included subject. Release completes the
   request (Art. 12(3): the reply is the data made available) and e-mails the
   person that their data is ready, how to download it and until when.
4. `package_download`: the person, in a session that proved the e-mail
   address with a fresh code (`download_proof_fresh`), or with an API token
   issued that recently; every download is audited.
5. `packages_expire` (beat): after `PACKAGE_TTL_DAYS`, or when the request
   was closed without a release, the file is deleted and the package marked
   `expired`; a download then answers 410.

A build whose worker died is started again by `packages_resume` (beat)
after `JOB_LEASE_SECONDS`, at most `JOB_MAX_ATTEMPTS` times (then `failed`,
with when and the last error's class name); an approver builds a failed
package again with `package_retry` once the cause is fixed.

Audit entries hold ids, sizes and counts, never personal data.

One module per part; this package re-exports their public names. `build`
(start and build, the worker) writes `files` (the ZIP, JSON and CSV), with the
HTML `report` and the `contents` of an access package; `release` (staff or
automatic, and the e-mail), `download` (the person and staff), `lifecycle`
(expiry, resuming dead builds, building again); `common`: what they share.
The imports point one way (`[tool.importlinter]` in pyproject.toml).
"""

from requests_app.services.packages.build import package_build, package_start
from requests_app.services.packages.common import (
    BUILD_TASK,
    READY_EMAIL_TASK,
    SCHEMA_DIR,
    SCHEMA_VERSION,
    PackageUnavailable,
    State,
    package_path,
    schema_url,
)
from requests_app.services.packages.download import (
    download_proof_fresh,
    package_available,
    package_download,
    package_staff_open,
)
from requests_app.services.packages.files import ACCESS_CSV_COLUMNS
from requests_app.services.packages.lifecycle import package_retry, packages_expire, packages_resume
from requests_app.services.packages.release import (
    auto_release_enabled,
    auto_release_set,
    package_ready_email_send,
    package_release,
)

__all__ = [
    "ACCESS_CSV_COLUMNS",
    "BUILD_TASK",
    "READY_EMAIL_TASK",
    "SCHEMA_DIR",
    "SCHEMA_VERSION",
    "PackageUnavailable",
    "State",
    "auto_release_enabled",
    "auto_release_set",
    "download_proof_fresh",
    "package_available",
    "package_build",
    "package_download",
    "package_path",
    "package_ready_email_send",
    "package_release",
    "package_retry",
    "package_staff_open",
    "package_start",
    "packages_expire",
    "packages_resume",
    "schema_url",
]
