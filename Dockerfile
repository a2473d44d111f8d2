# syntax=docker/dockerfile:1
# One image for every triage process, chosen by the first argument:
#   docker run IMAGE ingest | correlator | ticketing | migrate [ARGS...]
# `migrate` applies the correlator and ticketing SQL migrations to DATABASE_URL and exits (the Helm chart's Job).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# protoc comes from grpcio-tools in a venv of its own: a build tool, never shipped.
RUN python -m venv /opt/protoc && /opt/protoc/bin/pip install "grpcio-tools>=1.64"
# The runtime dependencies in their own layer, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -m venv /opt/triage \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > requirements.txt \
 && /opt/triage/bin/pip install -r requirements.txt
COPY proto ./proto
COPY services ./services
# Exactly the Makefile's `proto` target: generate, make the imports relative, mark the packages.
RUN rm -rf services/shared/contracts/triage && mkdir -p services/shared/contracts/triage/v1 \
 && /opt/protoc/bin/python -m grpc_tools.protoc -I proto --python_out=services/shared/contracts \
      --pyi_out=services/shared/contracts proto/triage/v1/*.proto \
 && sed -i 's/^from triage\.v1 import/from . import/' \
      services/shared/contracts/triage/v1/*_pb2.py services/shared/contracts/triage/v1/*_pb2.pyi \
 && touch services/shared/contracts/triage/__init__.py services/shared/contracts/triage/v1/__init__.py
# Installed, not editable: code, generated contracts and the SQL migrations land in site-packages. The import
# fails the build if the generated code does not match the protobuf runtime.
RUN /opt/triage/bin/pip install . \
 && /opt/triage/bin/python -c "import services.shared.contracts.triage.v1.incident_event_pb2, services.shared.migrate"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="triage" \
      org.opencontainers.image.description="Monitoring alerts in, ITSM incidents out: ingest, correlator, ticketing"
RUN groupadd --system --gid 10001 triage \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin triage
COPY --from=builder /opt/triage /opt/triage
# BIND_HOST: in a container the APIs must listen beyond loopback.
ENV PATH=/opt/triage/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 BIND_HOST=0.0.0.0
WORKDIR /opt/triage
USER 10001:10001
EXPOSE 8081 8082 8083
# exec: the service is PID 1 and gets SIGTERM itself (it finishes its batch in flight, then exits).
ENTRYPOINT ["/bin/sh", "-c", "role=\"${1:-}\"; [ $# -gt 0 ] && shift; case \"$role\" in ingest|correlator|ticketing) exec python -m \"services.$role\" \"$@\" ;; migrate) exec python -m services.shared.migrate \"$@\" ;; *) echo \"usage: IMAGE ingest|correlator|ticketing|migrate [ARGS...]\" >&2; exit 64 ;; esac", "triage"]
