import json
import os
import subprocess
import sys
from pathlib import Path


def run_scenario(name, tmp_path_factory):
    """Run ``tests/oscar/<name>.py`` in a process of its own (the example shop's settings,
    not the demo's) on a fresh OSCAR_SHOP_VAR; return the JSON object it prints last."""
    env = {**os.environ, "OSCAR_SHOP_VAR": str(tmp_path_factory.mktemp(name))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    script = Path(__file__).resolve().parent / f"{name}.py"
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-5000:]
    return json.loads(run.stdout.strip().splitlines()[-1])
