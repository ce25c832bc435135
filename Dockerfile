# The project's own image: the FastAPI app and the rasa-sdk action server (different commands, one image).
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ACUERDO_ENV=production DEMO_ENABLED=false
# Production refuses to start with demo settings or placeholder secrets (README, "Security").
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY actions ./actions
COPY api ./api
COPY payments ./payments
RUN pip install --no-cache-dir -c constraints.txt .
COPY config ./config
COPY domain.yml ./
RUN useradd --create-home acuerdo && mkdir -p /app/var && chown acuerdo /app/var
USER acuerdo
EXPOSE 8000 5055
# Forwarded headers are trusted only from FORWARDED_ALLOW_IPS (uvicorn's default: 127.0.0.1,::1).
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
