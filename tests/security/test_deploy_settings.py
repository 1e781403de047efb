"""Production settings (``DJANGO_PRODUCTION=1``) pass Django's deployment checklist
with no warning, and refuse to start without their secrets.

Checked in subprocesses: settings are read once per process, at import."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=300)


def production_env(tmp_path, **extra):
    return {"DJANGO_PRODUCTION": "1", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "shop.example.com", "SHOP_VAR_DIR": str(tmp_path), **extra}


def test_check_deploy_passes_without_warnings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_are_hardened(tmp_path):
    script = ("from django.conf import settings as s; print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, "
              "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_CONTENT_TYPE_NOSNIFF, "
              "s.X_FRAME_OPTIONS, s.REST_FRAMEWORK['NUM_PROXIES'])")
    # DJANGO_DEBUG is ignored in production: a stray variable cannot turn on debug pages.
    result = manage("shell", "-c", script, **production_env(tmp_path, DJANGO_DEBUG="1"))
    assert result.returncode == 0, result.stderr
    # No proxy trusted unless API_NUM_PROXIES says so: else direct clients forge their address.
    assert result.stdout.splitlines()[-1].split() == ["False", "True", "True", "True", "True", "True", "DENY", "0"]


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    result = manage("check", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
