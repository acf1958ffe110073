"""Settings, read from the environment (12-factor).

With DEBUG=1 and nothing else (`make run`) the app runs on the embedded default: a
SQLite file, Celery tasks run in-process after commit, and SSE events stay in-process.
Set DATABASE_URL and REDIS_URL for the full stack. Every value is read through
project/env.py, which refuses a bad one at start-up.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_choice, env_int, env_list, env_rate, env_seconds, env_str, env_timezone, env_url, invalid

BASE_DIR = Path(__file__).resolve().parent.parent

# Off unless asked for: a forgotten variable must not serve the debug page, a public
# key and insecure cookies. `make run` and the tests turn it on.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105 - development default only

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"],
    pattern=r"\*|\.?[\w.-]+(:\d+)?|\[[0-9a-fA-F:.]+\](:\d+)?", accepts="comma-separated host names such as example.com,.example.com",
)
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", pattern=r"https?://\S+", accepts="comma-separated origins with a scheme such as https://cleaning.example.com"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "jobs",
    "notifications",
    "webpush",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so its JSON 413 still passes back through every middleware above.
    "project.middleware.ApiBodySizeLimitMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.live_notifications",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

DATABASE_URL = env_url("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}", schemes=("postgres", "postgresql", "sqlite"))
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
# Threads running Django's requests, per web process (project/asgi.py); each request holds a
# database connection while it runs. Under one interpreter lock more threads add connections
# and contention, not throughput: bid to browser p99 216 / 310 / 518 ms with 4 / 8 / 24 threads
# (bench_e2e, 50 bids/s, same runs). Keep processes x this, plus workers, under PostgreSQL's
# max_connections.
# 0 would let no request in at all: refuse to start instead of hanging every request.
WEB_MAX_CONCURRENT_REQUESTS = env_int("WEB_MAX_CONCURRENT_REQUESTS", 4, minimum=1)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Statements run through project.prepared's cursors are prepared on first use, per
    # connection; Django's own cursors bind on the client and never prepare.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default: wait for the writer lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
# Lets parallel test runs (CI, several developers) use separate test databases.
if env_str("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_timezone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"
# Site-wide styles and scripts (base.html's); each app's own pages keep theirs in <app>/static/.
# Not "static/": that is STATIC_ROOT, collectstatic's output (git-ignored).
STATICFILES_DIRS = [BASE_DIR / "assets"]
# Served by WhiteNoise under any server; in development straight from the apps.
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# API bodies above this are refused with a JSON 413 (project/middleware.py); pages get Django's 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024, minimum=1)

# --- Production security (DEBUG off) ---------------------------------------------
# Development (DEBUG on, as `make run` sets it) stays plain http with Django's defaults.
# Behind a TLS-terminating proxy either let uvicorn trust it (FORWARDED_ALLOW_IPS;
# it then sets the request scheme from X-Forwarded-Proto) or name the header it
# sets, e.g. SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers and container health checks probe over plain http.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
_proxy_ssl_header = env_str(
    "SECURE_PROXY_SSL_HEADER", pattern=r"HTTP_[A-Z0-9_]+(,\s*\S+)?", accepts="HEADER,value such as HTTP_X_FORWARDED_PROTO,https"
)
if _proxy_ssl_header:
    _header, _, _value = _proxy_ssl_header.partition(",")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")
# Spelled out, whatever Django's defaults become (check --deploy wants them so).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Not HttpOnly: the page's script reads it to send X-CSRFToken with its API writes.
CSRF_COOKIE_SAMESITE = "Lax"

# --- Redis, Celery ------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))

CELERY_BROKER_URL = REDIS_URL or "memory://"
# kombu's Redis transport, keeping its redis.Redis client instead of building one per message (project/broker.py).
# Not for rediss://: a transport named here replaces the URL's scheme, and with it kombu's TLS set-up.
CELERY_BROKER_TRANSPORT = "project.broker:Transport" if REDIS_URL.startswith("redis://") else None
CELERY_RESULT_BACKEND = None
# Without a broker, tasks run in-process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# At-least-once: a task is acknowledged after it ran, and re-delivered if its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 150
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "notifications.outbox_event_dispatch": {"queue": "fanout"},
    "notifications.outbox_chunk_deliver": {"queue": "fanout"},
}
# Unacknowledged tasks of a killed worker come back after this long (the outbox
# sweeper usually gets there first). Must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300, "socket_connect_timeout": 2, "socket_timeout": 5}
# A broker outage at commit time must not stall the request: fail fast, the outbox keeps the event.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Flower shows every task, with its arguments, from these events.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BEAT_SCHEDULE = {
    "outbox-requeue-stale": {"task": "notifications.outbox_requeue_stale", "schedule": 15.0},
    "reminders-schedule-due": {"task": "notifications.reminders_schedule_due", "schedule": 300.0},
    "retention-purge": {"task": "notifications.retention_purge", "schedule": 600.0},
    "partitions-maintain": {"task": "notifications.partitions_maintain", "schedule": 3600.0},
    "account-deletions-resend": {"task": "notifications.account_deletions_resend", "schedule": 300.0},
    "channel-deliveries-dispatch-due": {"task": "notifications.channel_deliveries_dispatch_due", "schedule": 5.0},
}
# Audiences up to this size are delivered by the event's own task; bigger ones are split
# into chunk tasks of this size (notifications/outbox/dispatch.py).
FANOUT_CHUNK_SIZE = env_int("FANOUT_CHUNK_SIZE", 5000, minimum=1)
# Audiences up to this size take the direct path: the whole event in one transaction, no
# chunk rows (a bid, a message, an acceptance); bigger ones are chunked as above.
OUTBOX_DIRECT_MAX_RECIPIENTS = env_int("OUTBOX_DIRECT_MAX_RECIPIENTS", 20, minimum=0)

# --- Retention (notifications/retention.py; rules per type in notifications/catalog.py) ----
# Days a notification is kept: read (from when it was read), unread (from when it was sent);
# announcements (system_alert) have their own pair; retracted job offers go after RETENTION_DAYS_EXPIRED.
RETENTION_DAYS_READ = env_int("RETENTION_DAYS_READ", 180, minimum=1)
RETENTION_DAYS_UNREAD = env_int("RETENTION_DAYS_UNREAD", 365, minimum=1)
RETENTION_DAYS_ALERT_READ = env_int("RETENTION_DAYS_ALERT_READ", 30, minimum=1)
RETENTION_DAYS_ALERT_UNREAD = env_int("RETENTION_DAYS_ALERT_UNREAD", 90, minimum=1)
RETENTION_DAYS_EXPIRED = env_int("RETENTION_DAYS_EXPIRED", 7, minimum=1)
# One purge run: ids examined per batch (each batch one short transaction), the pause between
# batches, and the run's time budget; the next run resumes where this one stopped.
RETENTION_BATCH_IDS = env_int("RETENTION_BATCH_IDS", 5000, minimum=100)
# The pause keeps the purge gentle: at 0.5 s it still removes ~3,000 rows/s, far above a year's intake.
RETENTION_PAUSE_SECONDS = env_seconds("RETENTION_PAUSE_SECONDS", 0.5)
RETENTION_RUN_SECONDS = env_seconds("RETENTION_RUN_SECONDS", 240)
# Monthly partitions of the notifications table (PostgreSQL; notifications/partitions.py) that
# beat keeps created after this month's: an insert into a month without one fails.
PARTITIONS_AHEAD_MONTHS = env_int("PARTITIONS_AHEAD_MONTHS", 3, minimum=1)
# Account deletion (notifications/personal_data.py): notifications deleted per transaction.
ACCOUNT_PURGE_BATCH = env_int("ACCOUNT_PURGE_BATCH", 2000, minimum=1)
# --- Email and Web Push deliveries (notifications/channels/) -------------------
# Overrides every channel delay of the catalog (tests, demos); unset: the catalog's delays.
_fallback_seconds = env_int("CHANNEL_FALLBACK_SECONDS", -1, minimum=0)  # -1: unset
CHANNEL_FALLBACK_SECONDS = None if _fallback_seconds < 0 else _fallback_seconds
# Deliveries per send task (one SMTP connection, one pooled push session each).
CHANNEL_BATCH_SIZE = env_int("CHANNEL_BATCH_SIZE", 100, minimum=1, maximum=1000)
# Parallel push requests of one batch, over one pooled session.
CHANNEL_PUSH_THREADS = env_int("CHANNEL_PUSH_THREADS", 16, minimum=1, maximum=128)
# Attempts before a delivery is failed (retries back off exponentially, with jitter).
CHANNEL_MAX_ATTEMPTS = env_int("CHANNEL_MAX_ATTEMPTS", 6, minimum=1)
# A delivery still "sending" after this long belonged to a worker that died: it is sent again.
CHANNEL_SENDING_LEASE_SECONDS = env_int("CHANNEL_SENDING_LEASE_SECONDS", 300, minimum=CELERY_TASK_TIME_LIMIT)
# Overrides every digest window of the catalog (tests, demos); unset: the catalog's windows.
_digest_window_seconds = env_int("DIGEST_WINDOW_SECONDS", -1, minimum=0)  # -1: unset
DIGEST_WINDOW_SECONDS = None if _digest_window_seconds < 0 else _digest_window_seconds
# Job offer (job_created) pushes a cleaner gets per rolling hour; the rest wait for one digest push.
JOB_OFFER_PUSHES_PER_HOUR = env_int("JOB_OFFER_PUSHES_PER_HOUR", 4, minimum=0, maximum=60)
# Absolute links in emails (and the unsubscribe URL) start with this.
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000", schemes=("http", "https")).rstrip("/")
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Spotless <notifications@localhost>")
# SMTP when a host is set; `make run` (DEBUG, no host) prints emails on the console.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG and not EMAIL_HOST else "django.core.mail.backends.smtp.EmailBackend",
)

# --- REST framework -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "jobs.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "project.api_errors.exception_handler",
    # Throttles key anonymous clients by REMOTE_ADDR, never by a client-sent
    # X-Forwarded-For (which would let a password guesser pick a fresh identity per
    # request). uvicorn already puts the real client address there for proxies it
    # trusts (FORWARDED_ALLOW_IPS); set this only for proxies it does not know about.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
    "DEFAULT_THROTTLE_RATES": {
        "job_create": env_rate("THROTTLE_JOB_CREATE", "30/min"),
        "bid_place": env_rate("THROTTLE_BID_PLACE", "60/min"),
        "message_send": env_rate("THROTTLE_MESSAGE_SEND", "60/min"),
        "login": env_rate("THROTTLE_LOGIN", "10/min"),
        # Receipts (notifications/receipts.py): a page acks at most once a second, plus on pagehide.
        "notification_receipts": env_rate("THROTTLE_NOTIFICATION_RECEIPTS", "120/min"),
    },
}

# --- Receipts (notifications/receipts.py) ----------------------------------------------
# The most ids one ack may carry per state; pages send every 50 ids or 1 s, whichever first.
NOTIFICATION_RECEIPTS_MAX_IDS = env_int("NOTIFICATION_RECEIPTS_MAX_IDS", 200, minimum=1)
# How long a page's receipt token (notifications/receipts_door.py) is good for; past it the page
# acks through the API instead. A page is rendered again at least this often in practice.
NOTIFICATION_RECEIPT_TOKEN_MAX_AGE = env_seconds("NOTIFICATION_RECEIPT_TOKEN_MAX_AGE", 86400)

# --- Failed logins (jobs/login_limits.py) ---------------------------------------------
# Counted over /login/ and POST /api/auth/token/ together, per (username, address) and
# per address; reaching a limit locks that pair or address for LOGIN_LOCKOUT_SECONDS.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 50, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)

SPECTACULAR_SETTINGS = {
    "TITLE": "Cleaning marketplace API",
    "DESCRIPTION": "Jobs, bids, payments, messages and real-time notifications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # scheme://user:password@ is logged as scheme://user:********@ (celery_app.py does the same for the worker's handlers).
    "filters": {"mask_url_passwords": {"()": "project.redaction.MaskUrlPasswords"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_url_passwords"]}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), accepts="one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    },
    # Without Django's own handlers (an unmasked console with DEBUG on, mail_admins with no
    # ADMINS): its records reach the root handler like everyone else's.
    "loggers": {"django": {"level": "INFO"}},
}
# The debug page and error reports show settings, request data and local variables with the
# passwords inside URLs masked too (Django hides only settings named like KEY or PASSWORD).
DEFAULT_EXCEPTION_REPORTER = "project.error_reports.UrlPasswordSafeExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "project.error_reports.UrlPasswordSafeExceptionReporterFilter"

CACHES = {
    "default": (
        {"BACKEND": "project.cache.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Pushpin (GRIP proxy), optional ------------------------------------------------
# Set GRIP_URL to Pushpin's HTTP control endpoint (e.g. http://127.0.0.1:5561) and
# send browsers to Pushpin: it holds the /events/ streams, the publisher POSTs the
# frames to it, and this app holds no stream at all (deploy/pushpin/, README).
GRIP_URL = env_url("GRIP_URL", schemes=("http", "https"))
# Pushpin's sig_key: /events/ takes a request as Pushpin's only if its Grip-Sig JWT
# verifies with it. Unset, any Grip-Sig is trusted (safe only if nothing but Pushpin
# can reach this app).
GRIP_SIG_KEY = env_str("GRIP_SIG_KEY")
GRIP_SIG_ISS = env_str("GRIP_SIG_ISS", "pushpin")

# Freeze the objects of open streams out of the garbage collector's full passes
# (notifications/sse/gc_policy.py): at 10,000 streams such a pass stalls every stream.
STREAM_GC_FREEZE = env_bool("STREAM_GC_FREEZE", True)
# Threads (each keeping one database connection) for the streams' reads: authentication, the
# opening's replay and unread count, credential re-checks (notifications/sse/database.py).
# Two, not more: they share the event loop's GIL, and fewer threads take bigger batches. 10,000
# streams opened in 5.5-6.7 s at 0.43-0.54 ms of server CPU each with 2, 7.2-9.8 s at 0.58-0.80 ms with 4.
STREAM_DB_THREADS = env_int("STREAM_DB_THREADS", 2, minimum=1)

# PostgreSQL connections come from a pool per process (Django's, psycopg 3): a request borrows
# one and hands it back at its end, a stream's read likewise, a Celery task too; without it each
# of them opened a PostgreSQL session and closed it. Room for every request thread and the
# streams' threads, plus the process's other threads that read: a download's batches (one
# thread per download), a management command's or a test's threads, make run's beat and demo.
DATABASE_POOL = env_bool("DATABASE_POOL", True)
DATABASE_POOL_OTHER_THREADS = 20
if DATABASE_POOL and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 0,  # a process that never queries (a worker's parent, a one-off command) opens none
        "max_size": WEB_MAX_CONCURRENT_REQUESTS + STREAM_DB_THREADS + DATABASE_POOL_OTHER_THREADS,
        "max_idle": 300,
        "timeout": 10,
    }
    # A pooled connection may have died while idle (a database restart): checked as it is lent.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Web processes (uvicorn reads WEB_CONCURRENCY itself): each holds its own streams, so every
# event must go through Redis to reach them all.
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 1, minimum=1)
if WEB_CONCURRENCY > 1 and not REDIS_URL:
    raise invalid("WEB_CONCURRENCY", "1 without REDIS_URL (streams on other processes would miss events)", str(WEB_CONCURRENCY))
# The reconnect delay each stream tells its browser (SSE `retry:`), drawn per stream between
# these (ms): after a restart, pages come back spread out rather than all at once.
SSE_RETRY_MIN_MS = env_int("SSE_RETRY_MIN_MS", 1000, minimum=0)
SSE_RETRY_MAX_MS = env_int("SSE_RETRY_MAX_MS", 8000, minimum=0)
if SSE_RETRY_MAX_MS < SSE_RETRY_MIN_MS:
    raise invalid("SSE_RETRY_MAX_MS", f"at least SSE_RETRY_MIN_MS ({SSE_RETRY_MIN_MS})", str(SSE_RETRY_MAX_MS))

# --- /events/ caps (notifications/sse/limits.py) ------------------------------------
# Open streams per user in one web process; one more closes that user's oldest stream.
SSE_MAX_STREAMS_PER_USER = env_int("SSE_MAX_STREAMS_PER_USER", 10, minimum=1)
# Open streams per web process; past it a new stream gets 503 with Retry-After.
SSE_MAX_STREAMS_PER_PROCESS = env_int("SSE_MAX_STREAMS_PER_PROCESS", 20000, minimum=1)

# --- Metrics (GET /metrics on web, METRICS_WORKER_PORT on the worker; project/metrics_*.py) ---
# Readers must send "Authorization: Bearer <METRICS_TOKEN>"; unset, only loopback clients may read.
# Processes sharing a port (uvicorn --workers, Celery prefork) need PROMETHEUS_MULTIPROC_DIR,
# read by prometheus-client itself from the environment (an empty directory per service).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# The worker's own metrics port (0: none) and the address it listens on.
METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 0, minimum=0, maximum=65535)
METRICS_WORKER_ADDR = env_str("METRICS_WORKER_ADDR", "127.0.0.1")
if not DEBUG:
    SECURE_REDIRECT_EXEMPT.append(r"^metrics$")  # Prometheus scrapes over plain http inside the network

# --- Demo activity (make run only) ------------------------------------------------------
# A thread of the web process that posts jobs, bids and messages through the services every
# DEMO_ACTIVITY_SECONDS, so a newcomer sees the live parts move (demo/activity.py).
# Off unless set; `make run` sets it; refused whenever DEBUG is off.
DEMO_ACTIVITY = env_bool("DEMO_ACTIVITY", False)
DEMO_ACTIVITY_SECONDS = env_seconds("DEMO_ACTIVITY_SECONDS", 5.0)

# --- Benchmarks only (bench/) -----------------------------------------------------------
# The bench app and its baseline, django-eventstream, are development tools: installed with
# DEBUG on (`manage.py bench_*`) and in the servers bench_streams starts, never in production.
# BENCH_STOCK_EVENTSTREAM mounts the stock view on /stock-events/ (bench/urls.py) to compare
# /events/ with; bench_streams sets it in the server it starts.
BENCH_STOCK_EVENTSTREAM = env_bool("BENCH_STOCK_EVENTSTREAM", False)
if DEBUG or BENCH_STOCK_EVENTSTREAM:
    from bench.settings import BENCH_APPS, stock_eventstream_settings

    INSTALLED_APPS += BENCH_APPS
    if BENCH_STOCK_EVENTSTREAM and REDIS_URL:
        # EVENTSTREAM_STORAGE_CLASS, EVENTSTREAM_CHANNELMANAGER_CLASS, EVENTSTREAM_REDIS
        globals().update(stock_eventstream_settings(REDIS_URL))

# --- Geocoding (jobs/geocoding.py) -------------------------------------------------------
# Addresses become coordinates through GEOCODER: "gazetteer" (default) is the demo city's
# streets and districts, offline; "nominatim" asks OpenStreetMap's Nominatim through geopy,
# as its usage policy asks: a user agent naming the app, one request per second, answers cached.
GEOCODER = env_choice("GEOCODER", "gazetteer", ("gazetteer", "nominatim"))
GEOCODER_USER_AGENT = env_str("GEOCODER_USER_AGENT", "spotless-cleaning-marketplace/1.0")
GEOCODER_NOMINATIM_URL = env_url("GEOCODER_NOMINATIM_URL", "https://nominatim.openstreetmap.org", schemes=("http", "https"))
GEOCODER_COUNTRY_CODES = env_str(
    "GEOCODER_COUNTRY_CODES", "", pattern=r"[A-Za-z]{2}(,[A-Za-z]{2})*", accepts="comma-separated two-letter country codes"
)
GEOCODER_CACHE_SECONDS = env_int("GEOCODER_CACHE_SECONDS", 30 * 24 * 3600, minimum=1)
# The job form's map (Leaflet, vendored in jobs/static/jobs/vendor/): where its tiles come
# from. Empty: no map; the address alone places the job. A tile that fails to load leaves
# the form working all the same.
MAP_TILES_URL = env_str("MAP_TILES_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILES_ATTRIBUTION = env_str("MAP_TILES_ATTRIBUTION", "© OpenStreetMap contributors")

# --- Web Push (webpush/) -------------------------------------------------------------------
# The application's VAPID key pair (RFC 8292), base64url: `manage.py webpush_vapid_keys` makes one.
# Without both, Web Push is off (the preferences page says so). With DEBUG on and none set,
# development keys are made once into .venv/vapid-dev.json, so `make run` has push as it is.
VAPID_PUBLIC_KEY = env_str("VAPID_PUBLIC_KEY", pattern=r"[A-Za-z0-9_-]{87}", accepts="a base64url P-256 public key (87 characters)")
VAPID_PRIVATE_KEY = env_str("VAPID_PRIVATE_KEY", pattern=r"[A-Za-z0-9_-]{43}", accepts="a base64url P-256 private key (43 characters)")
if bool(VAPID_PUBLIC_KEY) != bool(VAPID_PRIVATE_KEY):
    raise ImproperlyConfigured("VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are set together or not at all")
if VAPID_PRIVATE_KEY:
    from webpush.vapid import vapid_pair_problem

    if _vapid_problem := vapid_pair_problem(VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY):
        raise ImproperlyConfigured(_vapid_problem)
if DEBUG and not VAPID_PRIVATE_KEY and (BASE_DIR / ".venv").is_dir():
    from webpush.vapid import dev_vapid_keys

    VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY = dev_vapid_keys(BASE_DIR / ".venv" / "vapid-dev.json")
# Who the push services may contact about this sender (the JWT's sub claim): mailto: or https:.
VAPID_SUBJECT = env_str(
    "VAPID_SUBJECT", "mailto:push@spotless.example", pattern=r"mailto:[^@\s]+@[^@\s]+|https://\S+",
    accepts="a mailto: address or an https:// URL",
)
# One push request's connect and read timeout; past it the send counts as failed (retried by the caller).
WEBPUSH_TIMEOUT_SECONDS = env_seconds("WEBPUSH_TIMEOUT_SECONDS", 10.0)
# How long a push service keeps a message for a browser that is offline (the TTL header).
WEBPUSH_TTL_SECONDS = env_int("WEBPUSH_TTL_SECONDS", 24 * 3600, minimum=0, maximum=28 * 24 * 3600)
# Browsers (subscriptions) per user; one more replaces that user's oldest.
WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER = env_int("WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER", 10, minimum=1)
# Endpoints must be https; http on 127.0.0.1/localhost is accepted only with DEBUG on or this
# (the local test push service of devtools/push_service.py).
WEBPUSH_ALLOW_INSECURE_ENDPOINTS = env_bool("WEBPUSH_ALLOW_INSECURE_ENDPOINTS", False)
# Connections kept per push service host by each process's pooled session (webpush/sending.py).
WEBPUSH_POOL_SIZE = env_int("WEBPUSH_POOL_SIZE", 32, minimum=1)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["push_subscriptions"] = env_rate("THROTTLE_PUSH_SUBSCRIPTIONS", "30/min")
# Push service hosts an endpoint may point at (a host, or a suffix starting with a dot): the
# worker POSTs to whatever URL a browser hands in, so only the browsers' push services are
# accepted (Chrome/Edge/Opera: FCM, Firefox: Mozilla, Edge: WNS, Safari: Apple). Empty: any
# public https host. Loopback endpoints follow WEBPUSH_ALLOW_INSECURE_ENDPOINTS instead.
WEBPUSH_ENDPOINT_HOSTS = env_list(
    "WEBPUSH_ENDPOINT_HOSTS",
    ["fcm.googleapis.com", ".push.services.mozilla.com", ".notify.windows.com", ".push.apple.com"],
    pattern=r"\.?[A-Za-z0-9.-]+", accepts="comma-separated host names or .suffixes",
)
