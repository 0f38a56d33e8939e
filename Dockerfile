# Image of the wxstream services (ingest, worker, topics). The broker is a separate image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY ingest ./ingest
COPY processors ./processors
COPY wxstream ./wxstream
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/wxstream wxstream \
    && mkdir -p /var/lib/wxstream && chown wxstream /var/lib/wxstream
USER wxstream
ENV WXSTREAM_HTTP_HOST=0.0.0.0
EXPOSE 8080
CMD ["wxstream", "ingest"]
