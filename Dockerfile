# One image for the five services; FRONTDESK_SERVICE chooses which one a container runs.
FROM python:3.11-slim
RUN pip install --no-cache-dir "uv==0.13.8"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY libs libs
COPY services services
RUN uv sync --frozen --no-dev && rm -rf /root/.cache
ENV PATH=/app/.venv/bin:$PATH \
    FRONTDESK_HTTP_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 frontdesk
USER frontdesk
CMD ["sh", "-c", "exec python -m libs.platform.serve services.${FRONTDESK_SERVICE}.app:create_app"]
