"""System checks for what an installation needs (docs/install.md): each missing piece
is reported by ``manage.py check`` (which ``migrate`` and ``runserver`` run first) with
what to add, instead of a crash in ``migrate`` or a 500 on the first page that needs it.
"""
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.template import engines
from django.template.backends.django import DjangoTemplates
from django.urls import NoReverseMatch, reverse

#: Apps Stylestore needs, what for, and the id each is reported under when missing.
REQUIRED_APPS = [
    ("django_q", "its task queue: jobs, schedules; `migrate` fails without its tables", "stylestore.E040"),
    ("rest_framework", "the API and the events endpoint the beacon posts to", "stylestore.E041"),
    ("rest_framework.authtoken", "the API's token authentication", "stylestore.E042"),
    ("drf_spectacular", "the API's OpenAPI schema and docs", "stylestore.E043"),
    ("drf_spectacular_sidecar", "the API docs' Swagger UI files, served without a CDN", "stylestore.E044"),
]

#: What SQLite needs for a web server and a worker writing at once (W050).
SQLITE_OPTIONS = {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}

REQUEST_PROCESSOR = "django.template.context_processors.request"
VISITOR_MIDDLEWARE = "stylestore.personalization.identity.VisitorMiddleware"
NOTICE_MIDDLEWARE = "stylestore.admin.notices.BatchNoticeMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"

#: URL names the template tags reverse, the include that provides each, and what the
#: tags leave out without it (they render nothing rather than fail).
TAG_URLS = [
    ("stylestore_personalization:pick", 'path("stylestore/", include("stylestore.personalization.urls"))',
     "{% style_picker %} renders nothing", "stylestore.W046"),
    ("stylestore_api:visitor-events", 'path("api/", include("stylestore.api.urls"))',
     "{% stylestore_beacon %} renders nothing, so no view, impression or click is recorded and "
     "personalization learns nothing", "stylestore.W047"),
]


@register()
def check_installed_apps(app_configs, **kwargs):
    return [
        Error(f"'{name}' is not in INSTALLED_APPS; Stylestore needs it for {purpose}.",
              hint="Add it as shown in docs/install.md.", id=error_id)
        for name, purpose, error_id in REQUIRED_APPS
        if not apps.is_installed(name)
    ]


@register(Tags.templates)
def check_request_context_processor(app_configs, **kwargs):
    django_engines = [engine for engine in engines.all() if isinstance(engine, DjangoTemplates)]
    if any(REQUEST_PROCESSOR in engine.engine.context_processors for engine in django_engines):
        return []
    return [Error(f"No Django template engine has '{REQUEST_PROCESSOR}' among its context processors: "
                  "Stylestore's template tags need the request.",
                  hint="Add it to TEMPLATES[0]['OPTIONS']['context_processors'].", id="stylestore.E045")]


@register()
def check_middleware(app_configs, **kwargs):
    middleware = list(settings.MIDDLEWARE)
    if VISITOR_MIDDLEWARE not in middleware:
        return [Warning(f"'{VISITOR_MIDDLEWARE}' is not in MIDDLEWARE: no visitor cookie is set, so every page "
                        "view is a new visitor and personalization never learns.", id="stylestore.W048")]
    if AUTH_MIDDLEWARE in middleware and middleware.index(AUTH_MIDDLEWARE) > middleware.index(VISITOR_MIDDLEWARE):
        return [Error(f"'{VISITOR_MIDDLEWARE}' must come after '{AUTH_MIDDLEWARE}' in MIDDLEWARE: it links "
                      "visitors to the user logged in.", id="stylestore.E049")]
    return []


@register()
def check_notice_middleware(app_configs, **kwargs):
    if not apps.is_installed("django.contrib.admin") or NOTICE_MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [Warning(f"'{NOTICE_MIDDLEWARE}' is not in MIDDLEWARE: the admin does not say when a batch of styled "
                    "images has finished or failed.", hint="Add it (anywhere in the list) as docs/install.md shows.",
                    id="stylestore.W051")]


@register()
def check_sqlite_concurrency(app_configs, **kwargs):
    """The beacon writes events while other requests and the worker write too. SQLite's
    default (deferred transactions, rollback journal) answers two such writers with
    "database is locked" at once, a 500 for the visitor; IMMEDIATE transactions wait
    their turn and WAL lets pages read meanwhile."""
    problems = []
    for alias, config in settings.DATABASES.items():
        if config.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        options = config.get("OPTIONS", {})
        if (str(options.get("transaction_mode", "")).upper() != "IMMEDIATE"
                or "journal_mode=wal" not in str(options.get("init_command", "")).lower().replace(" ", "")):
            problems.append(Warning(
                f"The SQLite database '{alias}' uses deferred transactions or no WAL journal: concurrent writes "
                "(visitor events, the worker) fail with 'database is locked'.",
                hint=f'Set DATABASES["{alias}"]["OPTIONS"] = {SQLITE_OPTIONS!r} as docs/install.md shows.',
                id="stylestore.W050"))
    return problems


@register(Tags.caches)
def check_cache_keeps_values(app_configs, **kwargs):
    """The API's and the events endpoint's rate limits count in the default cache, and
    the admin's style previews keep their state there: a cache that keeps nothing lets
    every request through, asks the workers for a preview again on every poll while it
    renders, and never reports one that failed."""
    if settings.CACHES.get("default", {}).get("BACKEND") != "django.core.cache.backends.dummy.DummyCache":
        return []
    return [Warning("The default cache keeps nothing (DummyCache): Stylestore's rate limits are off, and the "
                    "admin's style previews are asked for again on every poll and never reported as failed.",
                    hint="Use a cache that keeps values: the local-memory cache on one process, Redis or "
                         "Memcached for several.", id="stylestore.W052")]


@register(Tags.urls)
def check_tag_urls(app_configs, **kwargs):
    problems = []
    for name, include, lost, warning_id in TAG_URLS:
        try:
            reverse(name, kwargs={"version": "v1"} if name.startswith("stylestore_api:") else None)
        except NoReverseMatch:
            problems.append(Warning(f"The URL '{name}' does not resolve: {lost}.",
                                    hint=f"Add {include} to your root URLconf.", id=warning_id))
    return problems
