"""docs/install.md, followed to the letter in a fresh Django project (not the demo):
``check`` passes, the API and the tags work without the demo's DRF defaults, and each
requirement left out is reported by ``manage.py check`` under its id."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "install.md"

#: What any project has before it follows the guide (startproject's own settings).
PREAMBLE = """
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "fresh-project-test-key-" + "x" * 40
DEBUG = True
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "myshop.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
MEDIA_ROOT = BASE_DIR / "media"
"""

#: Not from the guide: each test case leaves one requirement out with this hook.
EPILOGUE = """
exec(os.environ.get("LEAVE_OUT", ""))
"""

CATALOG_MODELS = """
import uuid

from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)
    image = models.ImageField(upload_to="products/")

    def __str__(self):
        return self.name
"""

#: The same catalogue keyed by UUIDs, and users known by their email (no username), as
#: many shops' models are.
UUID_CATALOG_MODELS = CATALOG_MODELS.replace(
    "    name = models.CharField", "    id = models.UUIDField(primary_key=True, default=uuid.uuid4)\n    name = models.CharField"
) + """

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin


class CustomerManager(BaseUserManager):
    def create_superuser(self, email, password=None):
        user = self.model(email=email, is_staff=True, is_superuser=True)
        user.set_password(password)
        user.save()
        return user


class Customer(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    USERNAME_FIELD = "email"
    objects = CustomerManager()
"""

MANAGE = """
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myshop.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

#: The fresh project at work: its tables, a product with a photo, the page's tags (the
#: original, then a styled look once a style is rendered) and the API, whose schema
#: must not depend on REST_FRAMEWORK (the guide sets none).
SMOKE = """
import io
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myshop.settings")
import django

django.setup()
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.test.utils import setup_test_environment
from django.contrib.auth.models import AnonymousUser
from PIL import Image

from catalog.models import Product

call_command("migrate", run_syncdb=True, verbosity=0)
buffer = io.BytesIO()
Image.new("RGB", (96, 64), (200, 80, 40)).save(buffer, "JPEG")
product = Product(name="Vase")
product.image.save("vase.jpg", ContentFile(buffer.getvalue()))
PAGE = Template('{% load stylestore %}{% styled_image product "image" as img %}{% stylestore_picture img %}'
                '{% stylestore_beacon view=product %}')


def page():
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    return PAGE.render(Context({"request": request, "product": product}))


print("PAGE", page())
# A style, rendered here with the real engine, approved as staff would in the admin.
call_command("stylestore_styles", "--preset", "3", verbosity=0)
call_command("stylize", "--style", "preset-3", "--all", "--sync", "--size", "256", verbosity=0)
from stylestore.models import StylizedImage
StylizedImage.objects.update(review=StylizedImage.Review.APPROVED)
print("STYLED", page())
client = Client()
print("SCHEMA", client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").status_code)
reference = f"catalog.product:{product.pk}"
print("VIEW", client.post("/api/v1/visitor/events/", [{"kind": "view", "source": reference}],
                          content_type="application/json").status_code)
personalized = client.get(f"/api/v1/sources/{reference}/personalized/")
print("PERSONALIZED", personalized.status_code, personalized.json()["style"])
print("VARIANTS", client.get(f"/api/v1/sources/{reference}/variants/").json()["count"])
# Staff work through the API, as whatever user model the project has.
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
User = get_user_model()
staff = User.objects.create_superuser(**{User.USERNAME_FIELD: "ana@example.com", "password": "a-long-pass-123"})
auth = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=staff).key}"}
queued = client.post("/api/v1/jobs/", {"sources": [reference], "styles": ["preset-3"], "size": 128},
                     content_type="application/json", **auth)
print("QUEUED", queued.status_code)
print("QUEUED BY", client.get(f"/api/v1/batches/{queued.json()['batch']}/", **auth).json()["created_by"])
# The admin's "Styles" filter and the stylized images' search, which relate rows by key.
setup_test_environment()  # responses keep their template context
client.force_login(staff)
for query in ("stylestore_styles=none", "stylestore_styles=failures"):
    print("FILTER", query, client.get(f"/admin/catalog/product/?{query}").context["cl"].result_count)
print("FOUND", client.get("/admin/stylestore/stylizedimage/?q=Vase").context["cl"].result_count, "OF",
      client.get("/admin/stylestore/stylizedimage/").context["cl"].result_count)
from stylestore.models import Batch, Style
applied = client.post("/admin/catalog/product/", {
    "action": "apply_style", "_stylestore_confirm": "1", "_selected_action": [str(product.pk)],
    "styles": [Style.objects.get(slug="preset-3").pk], "size": 512, "output_format": "webp",
    "preserve_color": "", "engine": "", "strength": ""})
print("APPLIED", applied.status_code, Batch.objects.filter(origin="admin").count())
"""


def guide_blocks():
    """``{file name: code}`` of the guide's Python blocks (each opens with ``# <file>``)."""
    blocks = re.findall(r"```python\n# (\S+)\n(.*?)```", GUIDE.read_text(), re.S)
    return {name: code for name, code in blocks}


#: Settings appended (through the EPILOGUE's hook) for the catalogue's own user model.
CUSTOM_USERS = 'AUTH_USER_MODEL = "catalog.Customer"'


def write_project(root, models=CATALOG_MODELS):
    blocks = guide_blocks()
    assert {"settings.py", "urls.py", "catalog/admin.py"} <= set(blocks)
    files = {
        "manage.py": MANAGE,
        "smoke.py": SMOKE,
        "myshop/__init__.py": "",
        "myshop/settings.py": PREAMBLE + blocks["settings.py"] + EPILOGUE,
        "myshop/urls.py": blocks["urls.py"],
        "catalog/__init__.py": "",
        "catalog/models.py": models,
        "catalog/admin.py": blocks["catalog/admin.py"],
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_project(tmp_path_factory.mktemp("fresh"))


def run(project, *args, leave_out=""):
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{REPO}", "LEAVE_OUT": leave_out}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_the_guide_gives_a_clean_check_and_a_working_project(project):
    check = run(project, "manage.py", "check")
    assert check.returncode == 0, check.stderr
    assert "stylestore." not in check.stdout + check.stderr
    smoke = run(project, "smoke.py")
    assert smoke.returncode == 0, smoke.stderr
    assert re.search(r'<img src="/media/products/vase[^"]*\.jpg"[^>]*data-stylestore-ref="catalog.product:1"',
                     smoke.stdout)
    assert 'data-stylestore-endpoint="/api/v1/visitor/events/"' in smoke.stdout
    assert "SCHEMA 200" in smoke.stdout and "VIEW 202" in smoke.stdout and "VARIANTS 1" in smoke.stdout
    assert "QUEUED 202" in smoke.stdout and "QUEUED BY ana@example.com" in smoke.stdout
    # The product has styled images, none failed, and searching for its name finds them all.
    assert "FILTER stylestore_styles=none 0" in smoke.stdout and "FILTER stylestore_styles=failures 0" in smoke.stdout
    assert re.search(r"FOUND ([1-9]) OF \1\b", smoke.stdout), smoke.stdout[-300:]
    assert "APPLIED 302 1" in smoke.stdout  # "Apply style" queued a batch from the admin
    assert re.search(r"PERSONALIZED 200 \{'id': \d+, 'slug': 'preset-3'", smoke.stdout)
    styled = smoke.stdout.split("STYLED", 1)[1]
    assert re.search(r'<picture><source type="image/webp" srcset="/media/stylestore/[^" ]+\.webp \d+w"', styled)


def test_a_catalogue_keyed_by_uuids_and_users_by_email_work_the_same(tmp_path):
    project = write_project(tmp_path, UUID_CATALOG_MODELS)
    assert run(project, "manage.py", "check", leave_out=CUSTOM_USERS).returncode == 0
    smoke = run(project, "smoke.py", leave_out=CUSTOM_USERS)
    assert smoke.returncode == 0, smoke.stderr
    reference = re.search(r'data-stylestore-ref="(catalog\.product:[0-9a-f-]{36})"', smoke.stdout)
    assert reference, smoke.stdout
    styled = smoke.stdout.split("STYLED", 1)[1]
    assert re.search(r'<picture><source type="image/webp" srcset="/media/stylestore/[^" ]+\.webp \d+w"', styled)
    assert "VIEW 202" in smoke.stdout and "VARIANTS 1" in smoke.stdout
    assert re.search(r"PERSONALIZED 200 \{'id': \d+, 'slug': 'preset-3'", smoke.stdout)
    assert "QUEUED 202" in smoke.stdout and "QUEUED BY ana@example.com" in smoke.stdout
    # The product has styled images, none failed, and searching for its name finds them all.
    assert "FILTER stylestore_styles=none 0" in smoke.stdout and "FILTER stylestore_styles=failures 0" in smoke.stdout
    assert re.search(r"FOUND ([1-9]) OF \1\b", smoke.stdout), smoke.stdout[-300:]
    assert "APPLIED 302 1" in smoke.stdout  # "Apply style" queued a batch from the admin


@pytest.mark.parametrize("leave_out, reported", [
    ('INSTALLED_APPS.remove("django_q")', "stylestore.E040"),
    ('INSTALLED_APPS.remove("rest_framework")', "stylestore.E041"),
    ('INSTALLED_APPS.remove("rest_framework.authtoken")', "stylestore.E042"),
    ('INSTALLED_APPS.remove("drf_spectacular")', "stylestore.E043"),
    ('INSTALLED_APPS.remove("drf_spectacular_sidecar")', "stylestore.E044"),
    ('TEMPLATES[0]["OPTIONS"]["context_processors"].remove("django.template.context_processors.request")',
     "stylestore.E045"),
    ('MIDDLEWARE.remove("stylestore.personalization.identity.VisitorMiddleware")', "stylestore.W048"),
    ('MIDDLEWARE.remove("stylestore.personalization.identity.VisitorMiddleware"); '
     'MIDDLEWARE.insert(0, "stylestore.personalization.identity.VisitorMiddleware")', "stylestore.E049"),
    ('DATABASES["default"].pop("OPTIONS")', "stylestore.W050"),
    ('MIDDLEWARE.remove("stylestore.admin.notices.BatchNoticeMiddleware")', "stylestore.W051"),
    ("del Q_CLUSTER", "stylestore.W020"),
    ('Q_CLUSTER["retry"] = 200', "stylestore.E022"),
    ('ROOT_URLCONF = "catalog.no_urls"', "stylestore.W046"),
    ('ROOT_URLCONF = "catalog.no_urls"', "stylestore.W047"),
])
def test_check_reports_each_missing_requirement(project, leave_out, reported):
    (project / "catalog" / "no_urls.py").write_text("urlpatterns = []\n")
    check = run(project, "manage.py", "check", leave_out=leave_out)
    output = check.stdout + check.stderr
    assert reported in output, output
    assert "Traceback" not in output
    if reported.startswith("stylestore.E"):
        assert check.returncode != 0
