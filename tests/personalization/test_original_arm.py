"""STYLESTORE["ORIGINAL_AS_ARM"]: the original photo as one more look the policy may
choose, logged, remembered, counted and fitted like a style; off, it is never drawn."""
import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from stylestore.conf import stylestore_settings
from stylestore.models import StyleEvent, StyleHourlyStats, Visitor
from stylestore.personalization import analytics, evaluation, policy, population
from stylestore.personalization.choices import ORIGINAL

from .conftest import impressions, page_images, post_events, shown_styles, style_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def original_earns_more(world):
    """3 products x 2 styles, and hourly counters of the products' category where the
    original photo (the row without a style) earned 20 % clicks against the styles' 2 %."""

    def make():
        products, styles = world(3, 2)
        hour, category = population.hour_start(timezone.now()), products[0].category.name
        StyleHourlyStats.objects.bulk_create(
            [StyleHourlyStats(style=style, hour=hour, category=category, impressions=1000, clicks=20)
             for style in styles]
            + [StyleHourlyStats(style=None, hour=hour, category=category, impressions=1000, clicks=200)])
        return products, styles

    return make


def arm_setting(settings, on):
    settings.STYLESTORE = {**settings.STYLESTORE, "ORIGINAL_AS_ARM": on}


def test_the_original_wins_where_it_earns_more_and_is_logged_like_any_arm(original_earns_more, settings):
    arm_setting(settings, True)
    _, styles = original_earns_more()
    model = population.global_model()
    assert model.base_ctr(ORIGINAL) > max(model.base_ctr(str(s.pk)) for s in styles)
    offered = (*(str(s.pk) for s in styles), ORIGINAL)
    probabilities = policy.action_probabilities(policy.VisitorState(), offered, model, population.policy_params())
    assert sum(probabilities.values()) == pytest.approx(1.0) and probabilities[ORIGINAL] > 0.9

    shown = []
    for _ in range(20):
        client = Client()
        listing = client.get("/").content.decode()
        shown += [style_of(attrs["src"]) for attrs in page_images(listing).values()]
        batch = impressions(listing)
        assert len(batch) == 3  # the original drawn as an arm is logged, with its choice id
        assert post_events(client, batch + [{"kind": "click", "choice": batch[0]["choice"]}]).status_code == 202
        # Remembered per image like any look: the next page shows each image as it was seen.
        again = shown_styles(client)
        assert list(again.values()) == shown[-3:]
    assert shown.count("original") >= 0.8 * len(shown)

    logged = StyleEvent.objects.filter(kind="impression")
    assert logged.count() == 60
    for style_id, propensity, reason, available in logged.values_list("style_id", "propensity", "reason", "available"):
        key = ORIGINAL if style_id is None else str(style_id)
        assert available == [*(s.pk for s in styles), ORIGINAL] and reason in ("global", "explore")
        # A fresh visitor's first page: the probability of the look shown, from the same model.
        assert propensity == pytest.approx(probabilities[key])
    originals = logged.filter(style=None).count()
    assert originals == shown.count("original")
    counted = StyleHourlyStats.objects.filter(style=None).values_list("impressions", flat=True).get()
    assert counted == 1000 + originals
    # The visitor's state learns about the original like about a style.
    state = policy.VisitorState.from_dict(Visitor.objects.filter(
        events__style=None, events__kind="impression").first().state)
    assert state.styles[ORIGINAL].impressions > 0


def test_off_the_original_is_never_drawn(original_earns_more, settings):
    arm_setting(settings, False)
    products, _ = original_earns_more()
    for _ in range(10):
        client = Client()
        assert "original" not in shown_styles(client).values()
        assert "original" not in shown_styles(client, products[0].get_absolute_url()).values()
        api = client.get(f"/api/v1/sources/shop.product:{products[1].pk}/personalized/").json()
        assert api["style"] is not None
        post_events(client, impressions(client.get("/").content.decode()))
    logged = StyleEvent.objects.filter(kind="impression")
    assert logged.count() == 30 and not logged.filter(style=None).exists()
    assert all(ORIGINAL not in available for available in logged.values_list("available", flat=True))


def test_the_api_gives_the_originals_url_for_that_choice(original_earns_more, settings):
    arm_setting(settings, True)
    products, _ = original_earns_more()
    product = products[0]
    for _ in range(20):
        client = Client()
        api = client.get(f"/api/v1/sources/shop.product:{product.pk}/personalized/").json()
        if api["style"] is None:
            break
    assert api["url"] == f"http://testserver{product.image.url}" and api["srcset"] == ""
    # Drawn (or, one time in ~60, explored: the logged probability is the action's either way).
    assert api["reason"] in ("global", "explore") and api["choice_id"] and 0.9 < api["probability"] < 1
    assert post_events(client, [{"kind": "impression", "choice": api["choice_id"]}],
                       HTTP_X_VISITOR_ID=api["visitor"]).status_code == 202
    row = StyleEvent.objects.get(kind="impression")
    assert (row.style_id, row.reason, row.propensity) == (None, api["reason"], api["probability"])
    assert ORIGINAL in row.available


def test_a_pick_of_the_original_stays_a_pick_and_the_control_group_stays_apart(original_earns_more, settings):
    arm_setting(settings, True)
    products, _ = original_earns_more()
    url = f"/api/v1/sources/shop.product:{products[0].pk}/personalized/"
    client = Client()
    client.get(url)
    assert post_events(client, [{"kind": "pick", "style": "original"}]).status_code == 202
    api = client.get(url).json()
    assert (api["style"], api["reason"], api["probability"], api["choice_id"]) == (None, "pick", 1.0, None)

    settings.STYLESTORE = {**settings.STYLESTORE, "CONTROL_SHARE": 0.5}
    reasons = set()
    for _ in range(20):
        api = Client().get(url).json()
        reasons.add(api["reason"])
        if api["reason"] == "control":
            assert api["probability"] == 0.5 and api["style"] is None
        else:
            assert api["probability"] < 0.5  # the arms share the other half
    assert "control" in reasons and reasons - {"control"}  # each with chance 1 - 2^-20


def test_the_analytics_show_the_original_photo_as_a_row(original_earns_more, settings, client, django_user_model):
    arm_setting(settings, True)
    original_earns_more()
    rows = {row.style.name: row for row in analytics.style_rows(analytics.window_start(30))}
    assert (rows["Original photo"].impressions, rows["Original photo"].clicks) == (1000, 200)
    assert rows["Original photo"].ctr.value == pytest.approx(0.2)
    user = django_user_model.objects.create_user("ana", password="secret-pass-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_styleevent"))
    client.force_login(user)
    html = client.get("/admin/stylestore/styleevent/analytics/").content.decode()
    assert '<th scope="row">Original photo</th>' in html


def original_arm_log(styles, ctr, *, epsilon, n, seed, visitors=40):
    """Impressions logged by an epsilon-greedy policy whose greedy look is the first
    style, over the styles and the original photo (the last arm, ``ctr[-1]``), written
    as the shop writes them: the original under no style, ``"original"`` among the
    available looks. Returns the true CTR of the logging policy."""
    rng = np.random.default_rng(seed)
    people = Visitor.objects.bulk_create([Visitor(key=f"{i:032x}") for i in range(visitors)])
    arms = [*styles, None]
    available = [*(s.pk for s in styles), ORIGINAL]
    k, rows, now = len(arms), [], timezone.now()
    counts = {i: [0, 0] for i in range(k)}
    for i in range(n):
        explore = rng.random() < epsilon
        action = int(rng.integers(k)) if explore else 0
        propensity = 1 - epsilon + epsilon / k if action == 0 else epsilon / k
        visitor, style = people[i % visitors], arms[action]
        rows.append(StyleEvent(visitor=visitor, kind="impression", style=style, choice_id=f"c{i}",
                               propensity=propensity, history_share=0.0, reason="explore" if explore else "global",
                               available=available, created_at=now))
        counts[action][0] += 1
        if rng.random() < ctr[action]:
            rows.append(StyleEvent(visitor=visitor, kind="click", style=style, choice_id=f"c{i}", created_at=now,
                                   propensity=propensity, history_share=0.0, reason="global"))
            counts[action][1] += 1
    StyleEvent.objects.bulk_create(rows)
    StyleHourlyStats.objects.bulk_create(
        [StyleHourlyStats(style=arms[a], hour=population.hour_start(now), impressions=imp, clicks=clicks)
         for a, (imp, clicks) in counts.items()])
    return sum((1 - epsilon + epsilon / k if a == 0 else epsilon / k) * p for a, p in enumerate(ctr))


def test_the_ipw_replay_of_logs_with_the_original_arm_is_unbiased(make_styles):
    """Two styles and the original (the best, 10 %): "always the best single look",
    replayed from the log by the analytics, is the original and lands on its CTR; the
    figures are those of ``evaluation``'s estimators impression by impression."""
    styles = make_styles(2)
    ctr = [0.02, 0.05, 0.10]
    logging_ctr = original_arm_log(styles, ctr, epsilon=0.3, n=4000, seed=17)
    lift = analytics.lift(analytics.window_start(30))
    assert lift.impressions == 4000 and lift.baseline_styles[0] == "Original photo"
    assert ctr[-1] in lift.baseline_ipw and ctr[-1] in lift.baseline_snipw and logging_ctr in lift.personalized
    assert lift.absolute.high < 0

    clicked = set(StyleEvent.objects.filter(kind="click").values_list("choice_id", flat=True))
    logs = [evaluation.Logged(None, ORIGINAL if style is None else str(style), propensity, float(choice in clicked),
                              visitor)
            for visitor, style, propensity, choice in StyleEvent.objects.filter(kind="impression")
            .values_list("visitor_id", "style_id", "propensity", "choice_id")]
    expected = evaluation.ipw(logs, lambda _context, action: float(action == ORIGINAL))
    assert (lift.baseline_ipw.value, lift.baseline_ipw.low, lift.baseline_ipw.high) == pytest.approx(
        (expected.value, expected.low, expected.high), rel=1e-9)


def test_the_policys_own_log_with_the_original_arm_replays_without_bias():
    """The real policy over two styles and the original, visitors' states learning from
    their clicks: over 8 logs, the IPW estimate of "always the original" and of
    "uniformly at random" averages to the truth (and each interval mostly holds it)."""
    params = policy.PolicyParams(epsilon=0.2)
    keys = ("1", "2", ORIGINAL)
    ctr = {"1": 0.04, "2": 0.06, ORIGINAL: 0.10}
    model = policy.fit_global({"1": policy.StyleStats(300, 12), "2": policy.StyleStats(300, 15),
                               ORIGINAL: policy.StyleStats(300, 24)}, params)
    targets = {ctr[ORIGINAL]: lambda _c, action: float(action == ORIGINAL),
               sum(ctr.values()) / 3: lambda _c, _action: 1 / 3}
    estimates, held = {truth: [] for truth in targets}, 0
    for seed in range(8):
        rng, logs = np.random.default_rng(seed), []
        for visitor in range(150):
            state = policy.VisitorState()
            for page in range(8):
                choice = policy.choose(state, keys, model, params, visitor=f"{seed}-{visitor}", epoch=page)
                clicked = rng.random() < ctr[choice.style]
                logs.append(evaluation.Logged(None, choice.style, choice.propensity, float(clicked), visitor))
                state.record_impression(choice, params)
                if clicked:
                    state.record_click(choice.style, params)
        for truth, target in targets.items():
            estimate = evaluation.ipw(logs, target)
            estimates[truth].append(estimate.value)
            held += truth in estimate
    for truth, values in estimates.items():
        assert np.mean(values) == pytest.approx(truth, abs=3 * np.std(values) / np.sqrt(len(values)) + 1e-3)
    assert held >= 14  # of 16 intervals (95 % each)


def test_the_setting_is_validated(settings):
    assert stylestore_settings.ORIGINAL_AS_ARM is False
    settings.STYLESTORE = {**settings.STYLESTORE, "ORIGINAL_AS_ARM": "yes"}
    with pytest.raises(ImproperlyConfigured, match="ORIGINAL_AS_ARM"):
        stylestore_settings.ORIGINAL_AS_ARM
