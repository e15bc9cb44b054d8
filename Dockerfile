# webchat in a container: daphne (through webchat.serve, which drains on SIGTERM) on port
# 8000, the app's dependencies from requirements/prod.lock (hashes checked).
#   docker build -t webchat .        (or podman build)
# BASE: any Debian-based image with Python 3.11+ and its venv module.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    STATIC_ROOT=/srv/webchat/staticfiles

RUN useradd --system --home-dir /srv/webchat --create-home webchat \
    && python3 -m venv /opt/venv

WORKDIR /srv/webchat
COPY requirements/prod.lock requirements/prod.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/prod.lock

# The project runs from its folder (templates and static files live there).
COPY . .
# The translations compiled with GNU gettext, which leaves the image afterwards.
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && SECRET_KEY=build-only python manage.py compilemessages --verbosity 0 \
    && apt-get purge -y gettext && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /srv/webchat/media && chown webchat /srv/webchat/media

USER webchat
EXPOSE 8000
# Migrations run at start (safe to repeat); then the server. SECRET_KEY comes from the
# environment: the image holds none.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec python -m webchat.serve --bind 0.0.0.0 --port 8000 webchat.asgi:application"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
STOPSIGNAL SIGTERM
