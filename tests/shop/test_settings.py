"""The demo shop's settings read from the environment: the rate limits a load test or
a simulation from one address needs to lift, and a clear error for a mistyped one."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = ("import json, shop.settings as s; print(json.dumps([s.STYLESTORE['EVENT_BUDGETS'], "
        "s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']]))")


def limits(**environ):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("API_", "STYLESTORE_EVENT")) and k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env={**env, **environ},
                            capture_output=True, text=True, timeout=60)
    if result.returncode:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)


def test_by_default_the_plugins_budgets_and_the_shops_api_rates_hold():
    assert limits() == [{}, {"stylestore_anon": "300/minute", "stylestore_user": "3000/minute"}]


def test_a_load_test_switches_the_limits_off():
    budgets, rates = limits(STYLESTORE_EVENT_BUDGETS="off", API_ANON_RATE="off", API_USER_RATE="Off")
    assert budgets == {"IP": None, "VISITOR": None, "NEW_VISITORS_PER_IP": None}
    assert rates == {"stylestore_anon": None, "stylestore_user": None}


def test_some_budgets_are_set_and_the_others_keep_the_plugins_defaults():
    budgets, _ = limits(STYLESTORE_EVENT_BUDGETS="IP=10000/hour, NEW_VISITORS_PER_IP=off")
    assert budgets == {"IP": "10000/hour", "NEW_VISITORS_PER_IP": None}


def test_a_budget_that_does_not_exist_is_an_error_that_names_the_real_ones():
    with pytest.raises(RuntimeError, match="'PER_IP' is not one of IP, VISITOR, NEW_VISITORS_PER_IP"):
        limits(STYLESTORE_EVENT_BUDGETS="PER_IP=off")
