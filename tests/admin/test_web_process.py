"""Web processes never import PyTorch: importing every module a web process imports and
using every admin page leaves ``torch`` out of ``sys.modules`` and the process small.

Run in a fresh process (``tests/admin/web_process.py``), with its own SQLite database,
cache and media, so the imports of other tests in this one cannot hide or fake it."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_admin_pages_do_not_load_torch(tmp_path):
    # The subprocess sets up its own embedded services: no shared database, broker, cache or bucket.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "S3_BUCKET"}}
    env.update({"SHOP_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "shop.settings"})
    result = subprocess.run([sys.executable, "-m", "tests.admin.web_process"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    assert report["torch"] is False, "a web page imported torch"
    assert report["max_rss_mb"] < 250, report
