#!/bin/sh
# The portal's two database roles (README, "Database roles"). The postgres image runs this
# once, when its data volume is new (/docker-entrypoint-initdb.d), as the superuser:
#
#   portal_owner  owns the database and its tables; only `manage.py migrate` connects as
#                 it (DATABASE_OWNER_URL), and then grants portal_app its privileges;
#   portal_app    what web, worker and beat connect as (DATABASE_URL): it works with its
#                 tables but may only read and append to the audit trail, and owns
#                 nothing, so it cannot disable the trail's trigger or truncate it.
#
# Passwords come from the environment (docker compose: .env). The role names can be
# changed with PORTAL_OWNER_ROLE / PORTAL_APP_ROLE.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v owner="${PORTAL_OWNER_ROLE:-portal_owner}" -v owner_pw="$PORTAL_OWNER_PASSWORD" \
  -v app="${PORTAL_APP_ROLE:-portal_app}" -v app_pw="$PORTAL_APP_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_pw';
CREATE ROLE :"app" LOGIN PASSWORD :'app_pw';
ALTER DATABASE :"db" OWNER TO :"owner";
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
