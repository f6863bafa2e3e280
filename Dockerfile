# troupe in a container. The API listens on 0.0.0.0 inside the container (published on the
# host's loopback by compose.yaml); the token comes from TROUPE_API_TOKEN or is generated into
# /app/var/api_token on first start (printed once in the logs).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --home-dir /app troupe
WORKDIR /app
COPY --chown=troupe:troupe pyproject.toml README.md ./
COPY --chown=troupe:troupe engine engine
COPY --chown=troupe:troupe actors actors
COPY --chown=troupe:troupe adapters adapters
COPY --chown=troupe:troupe web web
COPY --chown=troupe:troupe bench bench
COPY --chown=troupe:troupe troupe troupe
COPY --chown=troupe:troupe config config
RUN pip install . && mkdir -p /app/var && chown troupe:troupe /app/var
USER troupe
VOLUME ["/app/var"]
EXPOSE 8080
# SIGTERM from `docker stop` starts the graceful shutdown; give it shutdown.timeout_s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["troupe"]
CMD ["run", "--host", "0.0.0.0", "--port", "8080"]
