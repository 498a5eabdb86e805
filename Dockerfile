# One image for the seven services; FRONTDESK_SERVICE chooses which one a container runs.
# Installed the way the README installs it: the uv version ./run pins, then `uv sync --frozen`
# from uv.lock, without the development group. No secret is part of the image: the database
# URL, routing's acknowledgement secret, the keys sealing calendar credentials and the SMTP and
# Twilio credentials come from the environment the container runs in.
# The console's browser library (oidc-client-ts), installed from the lock file; no build step.
FROM node:22-slim AS web
WORKDIR /web
COPY services/console/web/package.json services/console/web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
# A Unicode font for billing's invoice PDFs (the default FRONTDESK_BILLING_PDF_FONT_PATH).
RUN apt-get update \
 && apt-get install --yes --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir "uv==0.13.8"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# The locked dependencies get a layer of their own, rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-install-project
COPY libs libs
COPY services services
COPY --from=web /web/node_modules services/console/web/node_modules
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev
ENV PATH=/app/.venv/bin:$PATH \
    FRONTDESK_HTTP_HOST=0.0.0.0 \
    FRONTDESK_HTTP_PORT=8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent frontdesk
# Numeric, so that a cluster can tell the user is not root (runAsNonRoot).
USER 10001:10001
# HTTP; the inbox also listens for forwarded mail on 2525 (FRONTDESK_INBOX_SMTP_HOST/_PORT).
EXPOSE 8000 2525
CMD ["sh", "-c", "exec python -m libs.platform.serve services.${FRONTDESK_SERVICE:?}.app:create_app"]
