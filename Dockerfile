# incidentgraph API image.
#   docker build -t incidentgraph .
#   docker run -p 8000:8000 -v incidentgraph-data:/data incidentgraph
# Defaults to SQLite in /data and the in-process broker; set INCIDENTGRAPH_DATABASE_URL and
# INCIDENTGRAPH_BROADCAST_URL for PostgreSQL and Redis (see docker-compose.yml).

# Pinned by digest (the multi-platform index of python:3.11-slim): the same bytes every
# build, whatever the tag points at later; Dependabot proposes the next digest weekly.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# --- build: install the package and its dependencies into a virtualenv -----------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
WORKDIR /src
# The locked dependencies first (a layer that changes only with requirements.lock), each
# file checked against its hash; then the package, resolving nothing again.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install --no-deps .

# --- runtime: the virtualenv only, run as an unprivileged user -------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 incidentgraph \
    && useradd --system --uid 10001 --gid incidentgraph --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin incidentgraph \
    && install -d -o incidentgraph -g incidentgraph -m 0750 /data

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INCIDENTGRAPH_DATABASE_URL=sqlite:///data/incidentgraph.db

USER 10001:10001
WORKDIR /data
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('INCIDENTGRAPH_PORT', '8000') + '/healthz', timeout=4)"]

ENTRYPOINT ["incidentgraph"]
CMD ["serve", "--host", "0.0.0.0"]
