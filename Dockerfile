# One Dockerfile, two images: `node` (the model machine: Python + python-json-logger) and
# `analysis` (the log analysis: Python + matplotlib, plus node/ for node.schema). docker-compose.yml builds both.
#
# BASE_IMAGE defaults to the official python:3.11-slim. On a machine with no registry,
# scripts/setup builds a local stand-in under that name (Debian bookworm's python3 3.11).
# Dependencies install from wheels/ when scripts/setup has filled it (no index needed),
# otherwise from PyPI.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
# Lets scripts/test remove this project's superseded (dangling) images and nothing else.
LABEL org.opencontainers.image.title="lamport-scale-model"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app

FROM base AS node-deps
COPY node/requirements.txt /tmp/requirements/node.txt
COPY wheels/.gitkeep wheels/python_json_logger-* /tmp/wheels/
RUN python3 -m venv /opt/venv \
 && if ls /tmp/wheels/*.whl >/dev/null 2>&1; then \
      pip install -q --no-index --find-links /tmp/wheels -r /tmp/requirements/node.txt; \
    else \
      pip install -q -r /tmp/requirements/node.txt; \
    fi

FROM base AS analysis-deps
COPY node/requirements.txt /tmp/requirements/node.txt
COPY analysis/requirements.txt /tmp/requirements/analysis.txt
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
 && if ls /tmp/wheels/*.whl >/dev/null 2>&1; then \
      pip install -q --no-index --find-links /tmp/wheels -r /tmp/requirements/analysis.txt; \
    else \
      pip install -q -r /tmp/requirements/analysis.txt; \
    fi \
 && MPLCONFIGDIR=/opt/mplconfig python -c "import matplotlib.font_manager" \
 && chmod -R a+rX /opt/mplconfig

FROM base AS node
COPY --from=node-deps /opt/venv /opt/venv
COPY node/ /app/node/
RUN python -m compileall -q /app/node
# The container starts as root only to take the identity of the log folder's owner (node.identity).
ENV RUN_AS_LOG_OWNER=1 LOG_DIR=/logs
ENTRYPOINT ["python", "-m", "node"]

FROM base AS analysis
COPY --from=analysis-deps /opt/venv /opt/venv
COPY --from=analysis-deps /opt/mplconfig /opt/mplconfig
# The analysis reads the log format and writes summary.json as node.schema defines them, and
# takes the log owner's identity with node.identity: one definition of each, in both images.
COPY node/ /app/node/
COPY analysis/ /app/analysis/
RUN python -m compileall -q /app/node /app/analysis
ENV RUN_AS_LOG_OWNER=1 LOG_DIR=/logs MPLBACKEND=Agg MPLCONFIGDIR=/tmp/matplotlib
ENTRYPOINT ["python", "-m", "analysis"]
