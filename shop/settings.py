"""Settings for the demo shop.

Embedded defaults (SQLite, django-q2's ORM broker, media on local disk) need no
configuration. Environment variables switch each part to its scaled-out form:

- ``DATABASE_URL``       e.g. ``postgres://postgres@127.0.0.1:5432/test``
- ``REDIS_URL``          e.g. ``redis://127.0.0.1:6379/0``: django-q2 uses Redis as broker
- ``S3_BUCKET``          media (products, styles, variants) on S3-compatible storage, with
  ``S3_ENDPOINT_URL``, ``S3_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``
  and optionally ``S3_CUSTOM_DOMAIN``
- ``DJANGO_PRODUCTION=1`` production hardening; then ``DJANGO_SECRET_KEY`` and
  ``DJANGO_ALLOWED_HOSTS`` are required
- ``STYLESTORE_DEVICE``  ``auto`` (default), ``cpu`` or ``cuda``
- ``Q_WORKERS``          worker processes (default 2; use 1 per GPU on GPU machines)
- ``Q_CLUSTER_NAME``     read by django-q2 itself: ``stylestore-gpu`` makes a worker serve the
  GPU queue (with STYLESTORE["TASK_CLUSTER"] = "stylestore-gpu" on the senders)
"""
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR / "var"))
PRODUCTION = os.environ.get("DJANGO_PRODUCTION") == "1"


def _env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _rate(text):
    """A rate ("300/minute"), or None (no limit) for "off"."""
    text = text.strip()
    return None if text.lower() == "off" else text


def _env_rate(name, default):
    """A rate from the environment; "off" switches the limit off (None)."""
    return _rate(os.environ.get(name, default))


def _env_budgets(name, keys):
    """Named rates from the environment: "off" (every one off) or "KEY=rate,..."."""
    if _rate(os.environ.get(name, "")) is None:
        return dict.fromkeys(keys)
    budgets = {}
    for item in _env_list(name):
        key, _, rate = item.partition("=")
        if key.strip() not in keys:
            raise ImproperlyConfigured(f"{name}: {key.strip()!r} is not one of {', '.join(keys)}")
        budgets[key.strip()] = _rate(rate)
    return budgets


def _env_word(name):
    return os.environ[name].strip()


def _env_number(name):
    value = _env_word(name)
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: {value!r} is not a number") from None


def _env_switch(name):
    value = _env_word(name)
    if value not in ("0", "1"):
        raise ImproperlyConfigured(f"{name}: {value!r} is neither 1 (on) nor 0 (off)")
    return value == "1"


def _env_settings(**readers):
    """``STYLESTORE`` keys from ``STYLESTORE_<KEY>`` variables, only those set: the
    plugin's defaults hold for the others, and ``manage.py check`` judges the values."""
    return {key: read(f"STYLESTORE_{key}") for key, read in readers.items() if os.environ.get(f"STYLESTORE_{key}")}


if PRODUCTION:
    SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
    DEBUG = False
    ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS")
else:
    SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
    DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
    ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "stylestore",
    "shop",
    # Deletes a product's photo once the product's deletion (or the photo's replacement)
    # has committed, so it stops being served. "Selected": only models marked with
    # @cleanup.select; Stylestore deletes its own variant files (shared between rows).
    "django_cleanup.apps.CleanupSelectedConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the switcher's cookie, else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "stylestore.personalization.identity.VisitorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The admin notice when a batch of styled images finishes (W051).
    "stylestore.admin.notices.BatchNoticeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0"))
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A file, not memory, so worker subprocesses started by tests share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
    # WAL lets the web server read while a worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
#: The languages the shop and Stylestore ship translations for (stylestore/locale,
#: shop/locale); the header's switcher offers them.
LANGUAGES = [("en", _("English")), ("fr", _("French")), ("zh-hans", _("Simplified Chinese"))]
#: The demo's own strings, those of templates/ included (makemessages from the root).
LOCALE_PATHS = [BASE_DIR / "shop" / "locale"]
#: The currency of the catalogue's prices (ISO 4217), shown in each language's format.
SHOP_CURRENCY = os.environ.get("SHOP_CURRENCY", "USD")
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("SHOP_MEDIA_ROOT", VAR_DIR / "media"))

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def s3_storage(environ):
    """Media on S3-compatible storage from the README's variables (the credentials are
    read by boto3 from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). tests/storage runs
    this very configuration against moto's S3 server."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": environ["S3_BUCKET"],
            "endpoint_url": environ.get("S3_ENDPOINT_URL") or None,
            "region_name": environ.get("S3_REGION") or None,
            "custom_domain": environ.get("S3_CUSTOM_DOMAIN") or None,
            # Content-addressed names never collide; refusing overwrites keeps it so.
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": False,
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        },
    }


if os.environ.get("S3_BUCKET"):
    STORAGES["default"] = s3_storage(os.environ)

LOGIN_URL = "admin:login"

# django-q2. `timeout` (one task's limit) must stay below `retry` (when the ORM broker
# re-delivers an unacknowledged task); see stylestore checks.
Q_CLUSTER = {
    # `name` also keys the signing of task payloads: it must be the same everywhere.
    # Dedicated (GPU) workers are selected with django-q2's own Q_CLUSTER_NAME variable,
    # which picks a queue and the overrides below without changing `name`.
    "name": "stylestore",
    "ALT_CLUSTERS": {"stylestore-gpu": {"workers": 1, "recycle": 20}},
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "300")),
    "retry": int(os.environ.get("Q_RETRY", "360")),
    "max_attempts": 1,
    "ack_failures": True,
    "recycle": 50,
    "max_rss": 4_000_000,  # KiB: a worker that grew past ~4 GB is replaced after its task
    "save_limit": 500,
    "catch_up": False,
    "poll": 0.5,
    "orm": "default",
}
if os.environ.get("REDIS_URL"):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = os.environ["REDIS_URL"]

# Shared by every process (throttle counters, the personalization model): a file cache
# on one machine, Redis when scaled out. The cache gets its own Redis database
# (REDIS_CACHE_URL, default: the broker's server, database 1) so clearing it can never
# drop queued tasks.
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("REDIS_CACHE_URL")
            or urlsplit(os.environ["REDIS_URL"])._replace(path="/1").geturl(),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

STYLESTORE = {
    # The analytics group products by their category's name.
    "SOURCE_MODELS": {"shop.product": {"fields": ["image"], "category": "category__name"}},
    # The demo shows fresh variants at once; a real shop may prefer review first.
    "AUTO_APPROVE": os.environ.get("STYLESTORE_AUTO_APPROVE", "1") == "1",
    "DEVICE": os.environ.get("STYLESTORE_DEVICE", "auto"),
    # Renewed by the worker's heartbeat while it renders: short, so a dead worker's
    # jobs are back in work within a minute.
    "LEASE_SECONDS": int(os.environ.get("STYLESTORE_LEASE_SECONDS", "30")),
    # `make run` holds looks whose style barely shows (the peony panel fills its photo);
    # the tests' generated photos fill theirs too, so the check is the run script's.
    "QUALITY_GATE": {"STYLE_VISIBILITY": _env_number("STYLESTORE_STYLE_VISIBILITY")
                     if os.environ.get("STYLESTORE_STYLE_VISIBILITY") else None},
    # The events endpoint's budgets (the plugin's defaults unless set): "off" for none,
    # or some of them, "IP=10000/hour,NEW_VISITORS_PER_IP=off". A load test or a
    # simulation sends every visitor from one address, which they are there to stop.
    "EVENT_BUDGETS": _env_budgets("STYLESTORE_EVENT_BUDGETS", ("IP", "VISITOR", "NEW_VISITORS_PER_IP")),
    # The personalization's choices, so a trial of the running shop (a control group, the
    # original photo as a look, purchases as the goal) needs no edit of this file.
    **_env_settings(CONTROL_SHARE=_env_number, ORIGINAL_AS_ARM=_env_switch,
                    PICK_SCOPE=_env_word, REWARD=_env_word),
}

# The Stylestore API (/api/) sets its own authentication, permissions, parsers and
# error format on its views; what belongs to the deployment is configured here.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Requests per client: anonymous ones per IP address, authenticated ones per user.
    # A product grid asks for the variants of each product it shows, so keep the
    # anonymous rate well above one page's worth. None switches a limit off.
    # Counters live in the default cache: use a shared one (Redis) with several workers.
    "DEFAULT_THROTTLE_RATES": {
        "stylestore_anon": _env_rate("API_ANON_RATE", "300/minute"),
        "stylestore_user": _env_rate("API_USER_RATE", "3000/minute"),
    },
    # Reverse proxies in front of Django (load balancer, CDN). The anonymous limits key
    # on the client address, read from X-Forwarded-For that many hops back; 0 means the
    # socket's peer address. 0 by default, production too: trusting a proxy that is not
    # there lets every client that reaches Django directly name its own address in the
    # header, and with it dodge every limit. Behind a proxy, 0 errs the safe way (all
    # clients share the proxy's limit) until API_NUM_PROXIES says how many there are.
    "NUM_PROXIES": int(os.environ.get("API_NUM_PROXIES", "0")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"stylestore": {"handlers": ["console"], "level": os.environ.get("STYLESTORE_LOG_LEVEL", "INFO")}},
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts only from this origin, never inline, so
# injected markup cannot run script (the shop's pages and Stylestore's picker and beacon
# use files only). Inline styles stay allowed: the Django admin and Swagger UI use style
# attributes and blocks, and a style cannot run script. Media comes from this origin, or
# from the S3 bucket's domain when media is on S3.
MEDIA_ORIGINS = [
    f"https://{os.environ['S3_CUSTOM_DOMAIN']}" if os.environ.get("S3_CUSTOM_DOMAIN")
    else (os.environ.get("S3_ENDPOINT_URL") or f"https://{os.environ['S3_BUCKET']}.s3.amazonaws.com")
] if os.environ.get("S3_BUCKET") else []
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", *MEDIA_ORIGINS],  # data: Swagger UI's icons
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (django-permissions-policy): no page of the shop needs any of these
# powerful features, so no page (nor anything injected into one) can ask for them.
PERMISSIONS_POLICY = {feature: [] for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone", "payment", "usb",
)}
if PRODUCTION:
    SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SSL_REDIRECT", "1") == "1"
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
