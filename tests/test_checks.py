from django.core.checks import run_checks


def ids(errors):
    return {e.id for e in errors}


def test_default_configuration_is_clean():
    assert not [e for e in run_checks() if e.id.startswith("stylestore")]


def test_broker_timeout_must_be_below_retry(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 400, "retry": 360}
    assert "stylestore.E022" in ids(run_checks())


def test_lease_must_exceed_task_timeout(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "LEASE_SECONDS": 100}
    assert "stylestore.E023" in ids(run_checks())


def test_lease_must_exceed_redelivery(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 300, "retry": 500}
    settings.STYLESTORE = {**settings.STYLESTORE, "LEASE_SECONDS": 450}
    found = ids(run_checks())
    assert "stylestore.E024" in found and "stylestore.E023" not in found


def test_unknown_settings_and_bad_sources_are_reported(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "MAX_SIDES": 3, "SOURCE_MODELS": {"shop.product": ["name"], "nope.model": ["x"]}}
    found = ids(run_checks())
    assert {"stylestore.E001", "stylestore.E010", "stylestore.E011"} <= found


def test_storage_alias_must_exist(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "STORAGE": "missing"}
    assert "stylestore.E006" in ids(run_checks())
