# The project's own image: the FastAPI app and the rasa-sdk action server (different commands, one image), and
# the trainer (target `trainer`): the same image plus Rasa's CLI, for the model worker. docker-compose.yml names
# the target of each service; a plain `docker build .` gives the app image (the last stage).
# Both Pythons come from Debian bookworm images on purpose: the trainer stage copies a Python 3.10 built on one
# into the other, and its C libraries (libssl, libffi, libsqlite3, ...) must be the same ones.

# Rasa 3.6 runs on Python 3.8-3.10 only; the project needs 3.12. The trainer gets a self-contained Python 3.10
# prefix in /opt/rasa: the official image's interpreter, its libpython and its standard library, with Rasa
# installed into that prefix's own site-packages. It works anywhere because the official interpreter is linked
# with an rpath of $ORIGIN/../lib (it loads the libpython next to it, not one in /usr/local/lib) and Python
# finds its prefix by walking up from the executable to lib/python3.10/os.py. Copying python:3.10's /usr/local
# over the app image instead would overwrite the app's python3, pip and their site-packages; a venv would not
# do either, since it points back at /usr/local/bin/python3.10, which the app image does not have.
FROM python:3.10-slim-bookworm AS rasa
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN mkdir -p /opt/rasa/bin /opt/rasa/lib \
    && cp -a /usr/local/bin/python3.10 /opt/rasa/bin/ \
    && ln -s python3.10 /opt/rasa/bin/python \
    && cp -a /usr/local/lib/python3.10 /usr/local/lib/libpython3.10.so* /opt/rasa/lib/ \
    && /opt/rasa/bin/python -c "import sys; assert sys.prefix == '/opt/rasa', sys.prefix"
COPY constraints-rasa.txt /tmp/
# The same pins as `make setup`'s .venv-rasa (Makefile), so the trainer's models match `make model`'s.
RUN /opt/rasa/bin/python -m pip install --no-cache-dir --upgrade pip \
    && /opt/rasa/bin/python -m pip install --no-cache-dir -c /tmp/constraints-rasa.txt rasa==3.6.21 jsonschema==3.2.0

# The Rasa servers of docker-compose.yml (blue, green): the pinned Rasa above, run as uid 1001, with the code
# that runs inside Rasa (rasa_server/: the tracker and lock stores endpoints.production.yml names, which Rasa
# imports from its working directory; the changes `python -m rasa_server run` makes).
FROM rasa AS rasa-server
ENV PATH=/opt/rasa/bin:$PATH RASA_TELEMETRY_ENABLED=false
RUN useradd --uid 1001 --create-home rasa
WORKDIR /app
COPY rasa_server ./rasa_server
USER 1001

FROM python:3.12-slim-bookworm AS app
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
# uid 1000: the owner the bind-mounted folders the app and the trainer write (data/, config/, models/) need.
RUN useradd --create-home --uid 1000 acuerdo && mkdir -p /app/var && chown acuerdo /app/var
USER acuerdo
EXPOSE 8000 5055
# Forwarded headers are trusted only from FORWARDED_ALLOW_IPS (uvicorn's default: 127.0.0.1,::1).
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]

# The model worker: the app image plus Rasa's CLI (RASA_COMMAND). Training reads config.yml, domain.yml and
# data/, the evaluation tests/nlu and tests/rasa: compose mounts them, so the trainer always trains what the
# admins last saved. constraints-rasa.txt is part of a model's name (its input hash), so it is in the image.
FROM app AS trainer
USER root
COPY --from=rasa /opt/rasa /opt/rasa
COPY constraints-rasa.txt ./
# Named volumes start with the image's owner: the graph cache and the models folder are the trainer's to write.
RUN mkdir -p /app/.rasa/cache /app/models && chown -R acuerdo /app/.rasa /app/models
USER acuerdo
ENV RASA_COMMAND=/opt/rasa/bin/rasa RASA_TELEMETRY_ENABLED=false
# Fails the build, not the first training, if the copied interpreter misses a library it links.
RUN /opt/rasa/bin/python -c "import bz2, ctypes, lzma, sqlite3, ssl, uuid" && /opt/rasa/bin/rasa --version
CMD ["python", "-m", "api.model_worker"]

# `docker build .` builds the last stage: the app, as before.
FROM app
