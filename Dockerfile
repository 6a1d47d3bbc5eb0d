# rackcard: one image for the web app, the migrator and probe workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RACKCARD_VAR_DIR=/var/lib/rackcard

# The service runs as an unprivileged user; its state (probe spool, secret file
# when no RACKCARD_SECRET_KEY is given) lives in RACKCARD_VAR_DIR, a volume.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/rackcard --create-home rackcard

WORKDIR /app
COPY . .
# Editable: templates, static files and translations are read from /app
# (owned by root: the service user can read the code, not change it).
RUN pip install --quiet -e . && python -m compileall -q /app

USER rackcard
EXPOSE 8000 1162/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["rackcard", "serve", "--host", "0.0.0.0", "--port", "8000"]
