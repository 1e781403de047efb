"""The wheel a shop installs: the app's templates and static files inside, runtime
dependencies in compatible ranges, exact pins only for the packages whose weight
files the engine reads, torchvision not among them."""
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Built from a copy, so no build/ or egg-info lands in the working tree."""
    root = tmp_path_factory.mktemp("build")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "stylestore", root / "stylestore", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                    "-w", "dist"], cwd=root, check=True, capture_output=True, timeout=300)
    (path,) = (root / "dist").glob("*.whl")
    return zipfile.ZipFile(path)


def requirements(wheel):
    metadata = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    lines = wheel.read(metadata).decode().splitlines()
    return [line.split(": ", 1)[1] for line in lines if line.startswith("Requires-Dist: ") and "extra ==" not in line]


def test_templates_static_files_and_migrations_are_in_the_wheel(wheel):
    names = set(wheel.namelist())
    assert {"stylestore/static/stylestore/picker.css", "stylestore/static/stylestore/stylestore.js",
            "stylestore/templates/stylestore/pick.html", "stylestore/migrations/0001_initial.py",
            "stylestore/contrib/oscar/templates/oscar/catalogue/partials/product.html",
            "stylestore/contrib/oscar/dashboard/templates/stylestore/oscar/dashboard/review.html",
            "stylestore/contrib/oscar/dashboard/templates/oscar/dashboard/catalogue/product_list.html",
            "stylestore/contrib/oscar/dashboard/static/stylestore/oscar/dashboard.css",
            "stylestore/locale/fr/LC_MESSAGES/django.mo", "stylestore/locale/zh_Hans/LC_MESSAGES/django.mo"} <= names
    assert any(".dist-info/" in name and name.endswith("/LICENSE") for name in names)
    assert not any(name.startswith(("tests/", "shop/")) for name in names)


def test_runtime_dependencies(wheel):
    required = {re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower(): spec for spec in requirements(wheel)}
    assert "torchvision" not in required
    assert not [path for path in (REPO / "stylestore").rglob("*.py") if "torchvision" in
                "".join(line for line in path.read_text().splitlines() if line.lstrip().startswith(("import", "from")))]
    engine = "".join(path.read_text() for path in (REPO / "stylestore" / "engine").glob("*.py"))
    for name, spec in required.items():
        if "==" in spec:  # only a package whose weight files the engine reads by path
            assert name in engine or name.replace("-", "_") in engine, spec
    for name in ("django", "djangorestframework", "torch", "numpy", "pillow"):
        assert "<" in required[name], required[name]
