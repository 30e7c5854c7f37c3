# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY portal ./portal
COPY requests_app ./requests_app
COPY retention ./retention
RUN pip install .

COPY . .
RUN useradd --system --uid 1000 portal && mkdir -p /app/var && chown -R portal /app/var
USER portal

# collectstatic needs settings but no running services (nor real keys: nothing is hashed).
RUN DEBUG=false SECRET_KEY=build-only-collectstatic-key-0123456789abcdefghijklmnopqrstuvwxyz \
    HMAC_KEYS_TOMBSTONE=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    HMAC_KEYS_SUPPRESSION=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    HMAC_KEYS_TOKEN=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    ALLOWED_HOSTS=build DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput -v 0

EXPOSE 8000
# portal/gunicorn_conf.py: the access log records paths only, never query strings.
CMD ["gunicorn", "portal.wsgi", "--config", "python:portal.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "3"]
