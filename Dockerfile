# syntax=docker/dockerfile:1
# FastapiAdmin production image (see docs/deployment.md).
#
#   docker build -t fastapiadmin .
#   docker run --rm --env-file env/.env.prod -p 8001:8001 fastapiadmin
#
# The app runs from its source tree in /app (it finds alembic.ini, migrations/ and env/ next to
# main.py), with the pinned runtime dependencies of pyproject.toml in a virtualenv.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------- build --
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A compiler only for a dependency without a wheel for this platform; never in the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml ./
# Exactly the `[project] dependencies` of pyproject.toml (every one pinned with ==), without
# the dev extra; then check that they are consistent.
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && pip install -r requirements.txt \
    && pip check

# -------------------------------------------------------------------------------- runtime --
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    APP_ENV=prod

# A fixed uid/gid, so volumes and NFS shares can be prepared for it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY alembic.ini main.py ./
COPY migrations ./migrations
COPY app ./app
# Bytecode compiled now, owned by root: the app user can neither write nor alter the code.
RUN python -m compileall -q main.py app migrations \
    && mkdir -p /app/data/files \
    && chown -R app:app /app/data \
    && chmod -R 0750 /app/data

USER 10001:10001

# DATA_DIR (and the local FILE_DIR under it): keep it on a volume.
VOLUME ["/app/data"]
EXPOSE 8001

# uvicorn stops on SIGTERM: it stops accepting, waits up to GRACEFUL_SHUTDOWN_TIMEOUT for
# in-flight requests, closes the pools and exits. Give it longer than that (docker stop -t 40).
STOPSIGNAL SIGTERM

# No curl in the slim image: the standard library does the probe (any error or non-2xx: exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health/live' % os.environ.get('PORT', '8001'), timeout=3)"]

# Production start. Migrations are a separate one-shot step (`python main.py upgrade --env=prod`
# then `python main.py init --env=prod`); this refuses to start on a database that is behind.
CMD ["python", "main.py", "run", "--env=prod", "--host", "0.0.0.0"]
