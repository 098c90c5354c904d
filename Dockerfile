# syntax=docker/dockerfile:1
# Production image: the relay and its runtime dependencies only, non-root. The local kit
# (`service/devkit/`: sandbox, local broker, produce, demo) is removed before install.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY service ./service
# Same pins as development (constraints.txt); the runtime set and the tracing exporter
# (`otel`, idle unless OTEL_* variables configure it).
RUN rm -rf service/devkit && /opt/venv/bin/pip install -c constraints.txt '.[otel]'

# Push.R sandbox image (dev overlay, docker-compose): `docker build --target sandbox .`
# Its own build from the whole tree; kept before `runtime` so a plain `docker build .`
# still builds the production image.
FROM python:3.11-slim AS build-sandbox
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY service ./service
RUN /opt/venv/bin/pip install -c constraints.txt '.[sandbox]'

FROM python:3.11-slim AS sandbox
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build-sandbox /opt/venv /opt/venv
USER 10001:10001
EXPOSE 6700
ENTRYPOINT ["pushr-relay", "sandbox"]
CMD ["--host", "0.0.0.0", "--port", "6700"]

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PUSHR_RELAY_SCHEMAS_DIR=/app/schemas
RUN groupadd --system --gid 10001 relay \
 && useradd --system --uid 10001 --gid relay --no-create-home --shell /usr/sbin/nologin relay
COPY --from=build /opt/venv /opt/venv
COPY schemas /app/schemas
WORKDIR /app
USER 10001:10001
EXPOSE 9100
ENTRYPOINT ["pushr-relay", "run"]
