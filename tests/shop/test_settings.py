"""The demo shop's settings read from the environment: the rate limits a load test or
a simulation from one address needs to lift, the personalization's choices a trial of the
running shop sets, and a clear error for a mistyped one."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMITS = "[s.STYLESTORE['EVENT_BUDGETS'], s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']]"
POLICY = ("{k: s.STYLESTORE[k] for k in ('CONTROL_SHARE', 'ORIGINAL_AS_ARM', 'PICK_SCOPE', 'REWARD') "
          "if k in s.STYLESTORE}")


def run(args, environ):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("API_", "STYLESTORE_")) and k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**env, **environ},
                          capture_output=True, text=True, timeout=120)


def shown(expression, **environ):
    """``expression`` of the settings module ``s``, read with ``environ`` set."""
    result = run(["-c", f"import json, shop.settings as s; print(json.dumps({expression}))"], environ)
    if result.returncode:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)


def limits(**environ):
    return shown(LIMITS, **environ)


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


def test_the_personalizations_choices_keep_the_plugins_defaults_unless_set():
    assert shown(POLICY) == {}
    assert shown(POLICY, STYLESTORE_CONTROL_SHARE="0.1", STYLESTORE_ORIGINAL_AS_ARM="1",
                 STYLESTORE_PICK_SCOPE="product", STYLESTORE_REWARD="purchase") == {
        "CONTROL_SHARE": 0.1, "ORIGINAL_AS_ARM": True, "PICK_SCOPE": "product", "REWARD": "purchase"}
    assert shown(POLICY, STYLESTORE_ORIGINAL_AS_ARM="0") == {"ORIGINAL_AS_ARM": False}


@pytest.mark.parametrize("variable, value, reported", [
    ("STYLESTORE_CONTROL_SHARE", "10%", "STYLESTORE_CONTROL_SHARE: '10%' is not a number"),
    ("STYLESTORE_ORIGINAL_AS_ARM", "yes", "STYLESTORE_ORIGINAL_AS_ARM: 'yes' is neither 1 (on) nor 0 (off)"),
])
def test_a_value_the_environment_cannot_mean_is_an_error_that_names_the_variable(variable, value, reported):
    with pytest.raises(RuntimeError, match=re.escape(reported)):
        shown(POLICY, **{variable: value})


@pytest.mark.parametrize("variable, value, reported", [
    ("STYLESTORE_CONTROL_SHARE", "1", "(stylestore.E018) STYLESTORE['CONTROL_SHARE'] = 1.0"),
    ("STYLESTORE_REWARD", "purchases", "(stylestore.E017) STYLESTORE['REWARD'] must be one of"),
])
def test_a_choice_the_plugin_does_not_have_stops_the_shop_at_its_checks(variable, value, reported):
    result = run(["manage.py", "check"], {variable: value})
    assert result.returncode != 0 and reported in result.stderr
    assert run(["manage.py", "check"], {}).returncode == 0
