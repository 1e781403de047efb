import subprocess
import sys
from pathlib import Path

from django.core.checks import run_checks

from stylestore.conf import stylestore_settings


def ids(errors):
    return {e.id for e in errors}


def test_default_configuration_is_clean():
    assert not [e for e in run_checks() if e.id.startswith("stylestore")]


def test_the_checks_find_the_weights_without_importing_torch():
    """Every management command runs the checks: importing torch for them cost each one
    a second or more."""
    script = ("import sys, django; django.setup(); from django.core.checks import run_checks; "
              "assert not [e for e in run_checks() if e.id == 'stylestore.W053']; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_broker_timeout_must_be_below_retry(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 400, "retry": 360}
    assert "stylestore.E022" in ids(run_checks())


def test_lease_needs_room_for_missed_heartbeats(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "LEASE_SECONDS": 10}
    assert "stylestore.E023" in ids(run_checks())


def test_a_long_lease_is_warned_about_and_no_longer_tied_to_the_task_timeout(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 300, "retry": 360}
    settings.STYLESTORE = {**settings.STYLESTORE, "LEASE_SECONDS": 30}
    assert not {"stylestore.E023", "stylestore.W024"} & ids(run_checks())
    settings.STYLESTORE = {**settings.STYLESTORE, "LEASE_SECONDS": 600}
    assert "stylestore.W024" in ids(run_checks())


def test_unknown_settings_and_bad_sources_are_reported(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "MAX_SIDES": 3, "SOURCE_MODELS": {"shop.product": ["name"], "nope.model": ["x"]}}
    found = ids(run_checks())
    assert {"stylestore.E001", "stylestore.E010", "stylestore.E011"} <= found


def test_storage_alias_must_exist(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "STORAGE": "missing"}
    assert "stylestore.E006" in ids(run_checks())


def test_event_budgets_must_be_rates(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "EVENT_BUDGETS": {"IP": "lots", "VISITOR": None}}
    assert "stylestore.E008" in ids(run_checks())
    settings.STYLESTORE = {**settings.STYLESTORE, "EVENT_BUDGETS": {"IP": "10/minute", "VISITOR": None}}
    assert "stylestore.E008" not in ids(run_checks())


def test_quality_gate_limits_are_known_numbers_and_a_partial_gate_keeps_the_other_defaults(settings):
    for bad in ({"COLOUR": 2.0}, {"STRUCTURE": "high"}, {"PRODUCT_DELTA_E": -1}, {"STYLE_VISIBILITY": True}, [3.0]):
        settings.STYLESTORE = {**settings.STYLESTORE, "QUALITY_GATE": bad}
        assert "stylestore.E016" in ids(run_checks()), bad
    settings.STYLESTORE = {**settings.STYLESTORE, "QUALITY_GATE": {"PRODUCT_DELTA_E": 2, "STRUCTURE": None}}
    assert "stylestore.E016" not in ids(run_checks())
    # Tightening one limit keeps the others' defaults.
    settings.STYLESTORE = {**settings.STYLESTORE, "QUALITY_GATE": {"PRODUCT_DELTA_E": 2, "STYLE_VISIBILITY": 0.1}}
    assert stylestore_settings.QUALITY_GATE == {"PRODUCT_DELTA_E": 2, "STRUCTURE": 0.5, "STYLE_VISIBILITY": 0.1}


def test_the_daily_allowance_of_counted_impressions_is_a_positive_integer_or_none(settings):
    for bad in (0, -5, 2.5, "40", True):
        settings.STYLESTORE = {**settings.STYLESTORE, "COUNTED_IMPRESSIONS_PER_DAY": bad}
        assert "stylestore.E015" in ids(run_checks()), bad
    for good in (1, 40, None):
        settings.STYLESTORE = {**settings.STYLESTORE, "COUNTED_IMPRESSIONS_PER_DAY": good}
        assert "stylestore.E015" not in ids(run_checks()), good


def test_a_cache_that_keeps_nothing_is_reported_and_the_api_still_answers(settings, client, db):
    """A development settings file with DummyCache once made every API request a 500
    (the rate counter's increment raised); now the limits are off, as DRF's are, and
    ``check`` says so."""
    assert "stylestore.W052" not in ids(run_checks())
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert "stylestore.W052" in ids(run_checks())
    assert client.get("/api/v1/styles/").status_code == 200


def test_the_policys_settings_are_checked_at_start_up_not_on_a_customers_page(settings):
    """Read only when a visitor's first personalized image is chosen, a wrong one used to
    surface there, as a failed page."""
    cases = {"REWARD": ("purchases", "stylestore.E017"), "PICK_SCOPE": ("site", "stylestore.E017"),
             "ORIGINAL_AS_ARM": ("yes", "stylestore.E017"), "CONTROL_SHARE": (1.0, "stylestore.E018"),
             "EXPLORATION_EPSILON": (1.5, "stylestore.E019")}
    base = settings.STYLESTORE
    for setting, (bad, error_id) in cases.items():
        settings.STYLESTORE = {**base, setting: bad}
        found = [e for e in run_checks() if e.id == error_id]
        assert len(found) == 1 and repr(bad) in found[0].msg and setting in found[0].msg, (setting, found)
    for bad in (-0.1, "0.1", True, None):
        settings.STYLESTORE = {**base, "CONTROL_SHARE": bad, "EXPLORATION_EPSILON": bad}
        assert {"stylestore.E018", "stylestore.E019"} <= ids(run_checks()), bad
    settings.STYLESTORE = {**base, "REWARD": "purchase", "PICK_SCOPE": "product",
                           "ORIGINAL_AS_ARM": True, "CONTROL_SHARE": 0.1, "EXPLORATION_EPSILON": 1}
    assert not {"stylestore.E017", "stylestore.E018", "stylestore.E019"} & ids(run_checks())
