"""Every signal receiver Stylestore has, connected in one place: ``AppConfig.ready``.

Nothing connects on import, so importing a module never changes behaviour, and this
list is the whole answer to "what runs when a model is saved".
"""
from django.apps import apps
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django_q.signals import post_execute_in_worker, post_spawn, pre_execute

from .conf import reload_settings
from .models import Style, StylizedImage
from .personalization import identity
from .personalization.caches import clear_caches
from .variants import handlers, idle, sweeper, webhook
from .variants.signals import batch_finished, variant_ready
from .variants.sources import source_models


def connect():
    setting_changed.connect(reload_settings, dispatch_uid="stylestore-settings-changed")
    # Source photos: re-hash on save (stale variants are requested again), clean up on delete.
    for label in source_models():  # unknown labels are left out, and reported by the system check
        model = apps.get_model(label)
        post_save.connect(handlers.source_saved, sender=model, dispatch_uid=f"stylestore-save-{label}")
        post_delete.connect(handlers.source_deleted, sender=model, dispatch_uid=f"stylestore-delete-{label}")
    post_delete.connect(handlers.variant_deleted, sender=StylizedImage, dispatch_uid="stylestore-variant-delete")
    # The optional webhook: each event queues its own delivery task.
    variant_ready.connect(webhook.on_variant_ready, dispatch_uid="stylestore-webhook-variant-ready")
    batch_finished.connect(webhook.on_batch_finished, dispatch_uid="stylestore-webhook-batch-finished")
    # Every django-q2 worker process watches for dead workers' expired leases.
    post_spawn.connect(sweeper.watch_leases, dispatch_uid="stylestore-lease-watcher")
    # ...and gives back the memory its tasks needed once it has none to do.
    pre_execute.connect(idle.task_started, dispatch_uid="stylestore-task-started")
    post_execute_in_worker.connect(idle.task_finished, dispatch_uid="stylestore-release-memory")
    # Per-process caches of personalization: an admin's change to a style shows at
    # once in the process that made it; the others follow within their TTL.
    post_save.connect(clear_caches, sender=Style, dispatch_uid="stylestore-personalization-style-saved")
    post_delete.connect(clear_caches, sender=Style, dispatch_uid="stylestore-personalization-style-deleted")
    setting_changed.connect(clear_caches, dispatch_uid="stylestore-personalization-setting-changed")
    # A visitor is linked to the account that logs in, and a new one starts at logout.
    user_logged_in.connect(identity.on_login, dispatch_uid="stylestore-visitor-login")
    user_logged_out.connect(identity.on_logout, dispatch_uid="stylestore-visitor-logout")
