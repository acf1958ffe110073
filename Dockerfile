# The app image: web (uvicorn), Celery worker, beat and Flower all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files (admin, Swagger UI from the sidecar) collected into /app/static, served by WhiteNoise.
# The key only lets settings load during the build; the container gets the real one at run time.
RUN SECRET_KEY=build-only-not-secret DEBUG=0 python manage.py collectstatic --noinput

# Run as an unprivileged user; beat writes its schedule file under /tmp.
RUN useradd --create-home --uid 10001 app
USER app

EXPOSE 8000
# uvicorn takes its number of processes from WEB_CONCURRENCY (default 2 here; each holds its own streams).
# SIGHUP replaces them one by one; a new one under a reconnect storm can take more than the default 5 s.
ENV WEB_CONCURRENCY=2
CMD ["uvicorn", "project.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--timeout-worker-healthcheck", "30"]
