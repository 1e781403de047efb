"""The pure personalization policy and its estimators: no Django, no database."""
import json
import math
import random

import numpy as np
import pytest

from stylestore.personalization.evaluation import Logged, ctr_by_style, ipw, snipw, wilson
from stylestore.personalization.policy import (
    FALLBACK_CTR,
    MAX_KEY_LENGTH,
    MAX_STATE_BYTES,
    MAX_STYLES_LIMIT,
    POSTERIOR_DRAW_SCALE,
    _spread_posterior,
    Choice,
    EmbeddingTable,
    PolicyParams,
    Remembered,
    StyleStats,
    VisitorState,
    action_probabilities,
    choose,
    fit_global,
    learned_view_preference,
    rank_styles,
    view_preference,
)

GREEDY = PolicyParams(epsilon=0.0)


def rich_model(ctrs, impressions=200_000, params=GREEDY):
    """A model fitted from plenty of data: the posterior draws all agree on the order."""
    return fit_global({k: StyleStats(impressions, impressions * ctr) for k, ctr in ctrs.items()}, params)


def state_json_size(state):
    return len(json.dumps(state.to_dict()))  # default separators, as a JSONField stores it


def test_state_stays_under_one_kilobyte_after_thousands_of_events():
    params = PolicyParams()
    rng = np.random.default_rng(0)
    keys = [f"{i:0{MAX_KEY_LENGTH}d}" for i in range(40)]  # longest allowed keys
    table = EmbeddingTable({k: rng.normal(size=100) for k in keys})
    model = rich_model({k: 0.03 + 0.001 * i for i, k in enumerate(keys)})
    state = VisitorState()
    biggest = 0
    for i in range(5000):
        state.record_view(view_preference(table, rng.normal(size=100), params.temperature), params)
        choice = choose(state, keys[i % 37 :] + keys[: i % 37], model, params, visitor="v", epoch=i)
        state.record_impression(choice, params)
        style = keys[i % len(keys)]
        state.record_click(style, params)
        state.record_add_to_cart(style, params)
        if i % 97 == 0:
            state.set_pick(keys[-1 - i % 5])
        biggest = max(biggest, state_json_size(state))
    assert len(state.styles) <= params.max_styles
    assert biggest < MAX_STATE_BYTES


def test_state_bound_holds_at_the_largest_settings():
    params = PolicyParams(max_styles=MAX_STYLES_LIMIT, history_decay=0.999, reaction_decay=0.999)
    keys = [chr(ord("a") + i) * MAX_KEY_LENGTH for i in range(MAX_STYLES_LIMIT + 2)]
    state = VisitorState()
    for _ in range(3000):  # saturate every decayed sum
        state.record_view({k: 1.0 / len(keys) for k in keys}, params)
        for k in keys:
            state.record_impression(Choice(k, 1.0, "history", 0.0, keys[0]), params)
            state.record_click(k, params)
            state.record_add_to_cart(k, params)
    state.set_pick(keys[-1])
    state.current = keys[-2]
    assert state_json_size(state) < MAX_STATE_BYTES


def test_state_round_trips_and_garbage_gives_a_fresh_state():
    params = PolicyParams()
    state = VisitorState()
    state.record_view({"1": 0.7, "2": 0.3}, params)
    state.record_impression(Choice("1", 0.9, "history", 0.5, "1"), params)
    state.record_click("1", params)
    state.set_pick("2")
    copy = VisitorState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert copy.to_dict() == state.to_dict()
    assert (copy.pick, copy.current) == ("2", "1")
    for garbage in (None, [], {"v": 999}, {"v": 1, "s": {"1": [1, 2]}}, {"v": 1, "s": {"1": "abcd"}},
                    {"v": 1, "s": {"1": [-1, 0, 0, 0]}}, {"v": 1, "p": "x" * 100}):
        assert VisitorState.from_dict(garbage).to_dict() == VisitorState().to_dict()


def test_long_keys_are_refused():
    with pytest.raises(ValueError):
        VisitorState().set_pick("x" * (MAX_KEY_LENGTH + 1))


def test_without_consent_the_globally_best_style_is_shown():
    model = rich_model({"a": 0.02, "b": 0.05, "c": 0.03})
    choice = choose(None, ["a", "b", "c"], model, GREEDY, visitor="request-token", epoch=0)
    assert (choice.style, choice.reason, choice.propensity) == ("b", "global", 1.0)
    assert choice.sticky is None and choice.history_share == 0.0
    assert action_probabilities(None, ["a", "b", "c"], model, GREEDY) == {"a": 0.0, "b": 1.0, "c": 0.0}


def test_nothing_available_shows_the_original():
    model = rich_model({"a": 0.05})
    for state in (None, VisitorState(current="a", pick="a")):
        choice = choose(state, [], model, visitor="v", epoch=0)
        assert (choice.style, choice.reason, choice.propensity) == (None, "original", 1.0)
        assert action_probabilities(state, [], model) == {None: 1.0}


def test_explicit_pick_wins_and_is_remembered_until_cleared():
    params = PolicyParams(epsilon=0.5)
    model = rich_model({"a": 0.08, "b": 0.01})
    state = VisitorState()
    state.record_view({"a": 1.0}, params)
    state.set_pick("b")
    for epoch in range(50):  # even where exploration would fire
        choice = choose(state, ["a", "b"], model, params, visitor="v", epoch=epoch)
        assert (choice.style, choice.reason, choice.propensity) == ("b", "pick", 1.0)
        state.record_impression(choice, params)
    state = VisitorState.from_dict(state.to_dict())
    assert state.pick == "b"
    # Not offered for this product: the policy decides, the pick is kept for later.
    assert choose(state, ["a"], model, params, visitor="v", epoch=0).style == "a"
    assert state.pick == "b"
    state.set_pick(None)
    assert choose(state, ["a", "b"], model, GREEDY, visitor="v", epoch=0).style == "a"


def test_a_remembered_look_is_shown_again_with_its_draws_probability():
    params = PolicyParams(epsilon=0.5, control_share=0.2)
    model = rich_model({"a": 0.08, "b": 0.01})
    state = VisitorState(current="a")
    state.record_view({"a": 1.0}, params)
    seen = Remembered("b", 0.11, ("a", "b"))
    visitors = [f"v{i}" for i in range(200)]
    outside = [v for v in visitors if choose(state, ["a", "b"], model, params, visitor=v, epoch=0).reason != "control"]
    assert 100 < len(outside) < 200
    for visitor in outside:
        for epoch in range(5):  # however the draws and the state move
            choice = choose(state, ["a", "b", "c"], model, params, visitor=visitor, epoch=epoch, remembered=seen)
            assert (choice.style, choice.propensity, choice.reason) == ("b", 0.11, "remembered")
            state.record_impression(choice, params)
    # Seeing it again is no new choice: the sticky choice stays.
    assert state.current == "a"
    # No longer offered: the policy draws afresh.
    assert choose(state, ["a"], model, params, visitor=outside[0], epoch=0, remembered=seen).reason != "remembered"
    # The control group still sees the original photo, and a pick wins.
    controlled = next(v for v in visitors if v not in outside)
    assert choose(state, ["a", "b"], model, params, visitor=controlled, epoch=0, remembered=seen).reason == "control"
    state.set_pick("a")
    assert choose(state, ["a", "b"], model, params, visitor=outside[0], epoch=0, remembered=seen).style == "a"
    # Without consent nothing is remembered.
    assert choose(None, ["a", "b"], model, params, visitor="request", epoch=0, remembered=seen).reason != "remembered"


def test_remembered_looks_logged_with_their_draws_probability_keep_ipw_on_target():
    """Each product's look is drawn once per visitor and then shown again on every
    later impression of it: logged with that one draw's probability (and the visitor as
    the cluster), IPW still recovers another policy's CTR; logged as certain (1), the
    explored looks' repeats would be under-weighted and the estimate far off."""
    params = PolicyParams(epsilon=0.3)
    model = rich_model({"a": 0.10, "b": 0.05, "c": 0.05}, params=params)
    truth = {"a": 0.05, "b": 0.10, "c": 0.20}
    rng = np.random.default_rng(3)
    honest, certain = [], []
    for v in range(4000):
        state, shown = VisitorState(), {}
        for _ in range(12):
            product = int(rng.integers(3))
            choice = choose(state, ["a", "b", "c"], model, params, visitor=f"v{v}", epoch=0,
                            remembered=shown.get(product))
            clicked = float(rng.random() < truth[choice.style])
            honest.append(Logged(None, choice.style, choice.propensity, clicked, cluster=v))
            certain.append(Logged(None, choice.style, 1.0 if choice.reason == "remembered" else choice.propensity,
                                  clicked, cluster=v))
            shown[product] = Remembered(choice.style, choice.propensity, ("a", "b", "c"))
            state.record_impression(choice, params)
    always_c = lambda _context, action: float(action == "c")  # noqa: E731
    assert truth["c"] in ipw(honest, always_c)
    assert ipw(certain, always_c).high < truth["c"]


def test_same_seed_same_choice_and_refreshes_stay_put():
    params = PolicyParams(epsilon=0.2)
    model = fit_global({"a": StyleStats(300, 12), "b": StyleStats(300, 11), "c": StyleStats(300, 10)}, params)
    state = VisitorState()
    state.record_view({"a": 0.4, "b": 0.35, "c": 0.25}, params)
    for epoch in range(30):
        first = choose(state, ["a", "b", "c"], model, params, visitor="visitor-1", epoch=epoch)
        again = choose(state, ["a", "b", "c"], model, params, visitor="visitor-1", epoch=epoch)
        assert first == again


def test_sticky_choice_is_kept_until_another_style_is_clearly_better():
    params = PolicyParams(epsilon=0.0, switch_margin=0.2)
    state = VisitorState(current="b")
    state.record_view({"a": 0.5, "b": 0.5}, params)

    slightly_better = rich_model({"a": 0.050, "b": 0.045})  # a is 11 % better
    for epoch in range(20):
        choice = choose(state, ["a", "b"], slightly_better, params, visitor="v", epoch=epoch)
        assert (choice.style, choice.reason, choice.sticky) == ("b", "sticky", "b")
        state.record_impression(choice, params)

    clearly_better = rich_model({"a": 0.050, "b": 0.030})  # a is 67 % better
    choice = choose(state, ["a", "b"], clearly_better, params, visitor="v", epoch=99)
    assert (choice.style, choice.reason, choice.sticky) == ("a", "history", "a")
    state.record_impression(choice, params)
    assert state.current == "a"


def test_browsing_history_moves_the_choice():
    params = PolicyParams(epsilon=0.0)
    model = fit_global(
        {k: StyleStats(200_000, 200_000 * ctr) for k, ctr in {"a": 0.040, "b": 0.045}.items()},
        PolicyParams(history_weight=2.0),
    )
    state = VisitorState()
    assert choose(state, ["a", "b"], model, params, visitor="v", epoch=0).style == "b"
    for _ in range(5):
        state.record_view({"a": 0.95, "b": 0.05}, params)
    choice = choose(state, ["a", "b"], model, params, visitor="v", epoch=0)
    assert (choice.style, choice.reason) == ("a", "history")
    assert choice.history_share == pytest.approx(state.history_share("a"))


def test_a_visitor_who_never_clicks_is_not_moved_off_their_style():
    """Not clicking says more about the visitor than about the style they saw."""
    params = PolicyParams(epsilon=0.0)
    model = rich_model({"a": 0.05, "b": 0.045})
    state = VisitorState(current="a")
    for epoch in range(60):
        choice = choose(state, ["a", "b"], model, params, visitor="v", epoch=epoch)
        assert choice.style == "a"
        state.record_impression(choice, params)


def test_clicks_and_add_to_carts_on_a_style_pull_the_visitor_to_it():
    params = PolicyParams(epsilon=0.0)
    model = rich_model({"a": 0.05, "b": 0.045})
    state = VisitorState(current="a")
    for epoch in range(10):
        state.record_impression(choose(state, ["a", "b"], model, params, visitor="v", epoch=epoch), params)
    state.record_impression(Choice("b", 0.05, "explore", 0.0, "a"), params)  # exploring keeps the sticky style
    assert state.current == "a"
    state.record_click("b", params)
    state.record_add_to_cart("b", params)
    assert choose(state, ["a", "b"], model, params, visitor="v", epoch=11).style == "b"


@pytest.mark.parametrize("with_state", [True, False])
def test_propensities_sum_to_one_and_match_the_frequency_of_choices(with_state):
    params = PolicyParams(epsilon=0.3)
    # Little data: the Thompson draws disagree, so several styles have exploit mass.
    model = fit_global({"a": StyleStats(400, 20), "b": StyleStats(400, 18), "c": StyleStats(100, 4)}, params)
    available = ["a", "b", "c", "d"]
    state = None
    if with_state:
        state = VisitorState()
        state.record_view({"a": 0.2, "b": 0.5, "c": 0.3}, params)
    expected = action_probabilities(state, available, model, params)
    assert sum(expected.values()) == pytest.approx(1.0)
    assert all(p >= params.epsilon / len(available) for p in expected.values())

    rounds = 20_000
    counts = dict.fromkeys(available, 0)
    for epoch in range(rounds):
        choice = choose(state, available, model, params, visitor="visitor-42", epoch=epoch)
        assert choice.propensity == pytest.approx(expected[choice.style])
        counts[choice.style] += 1
    for style, p in expected.items():
        tolerance = 4.5 * math.sqrt(p * (1 - p) / rounds)
        assert abs(counts[style] / rounds - p) <= tolerance, (style, counts[style] / rounds, p)


def test_exploration_is_population_level_and_consistent_across_products():
    params = PolicyParams(epsilon=0.1)
    model = rich_model({k: 0.05 for k in "abcdef"})
    explored = 0
    for visitor in range(2000):
        seen = {
            choose(None, products, model, params, visitor=str(visitor), epoch=3).reason
            for products in (list("abcdef"), list("abcd"), list("cdef"))
        }
        assert len(seen) == 1  # one draw per (visitor, epoch), whatever the product
        explored += seen == {"explore"}
    assert abs(explored / 2000 - 0.1) < 0.03


def test_empirical_bayes_prior_with_zero_and_thin_data():
    empty = fit_global({})
    assert empty.prior_mean == pytest.approx(FALLBACK_CTR)
    assert empty.base_ctr("anything") == pytest.approx(FALLBACK_CTR)
    assert empty.history_weight == PolicyParams().history_weight
    # No data: every style ties, and ties go to the shop's order.
    assert choose(None, ["x", "y", "z"], empty, GREEDY, visitor="v", epoch=0).style == "x"
    assert choose(VisitorState(), ["y", "x"], empty, GREEDY, visitor="v", epoch=0).style == "y"

    thin = fit_global({"a": StyleStats(3, 1), "b": StyleStats(0, 0)})
    assert 0 < thin.base_ctr("a") < 0.1  # one lucky click is not a 33 % CTR
    assert thin.base_ctr("b") == pytest.approx(thin.prior_mean)
    assert all(math.isfinite(x) for x in thin.draws.ravel())


def test_empirical_bayes_shrinks_small_samples_towards_the_population():
    model = fit_global({
        "proven": StyleStats(20_000, 1_000),   # 5 %
        "lucky": StyleStats(20, 3),            # 15 % on 20 impressions
        "c": StyleStats(20_000, 700),
        "d": StyleStats(20_000, 800),
    })
    assert model.base_ctr("proven") == pytest.approx(0.05, rel=0.05)
    assert model.base_ctr("lucky") < model.base_ctr("proven")
    # Thompson sampling still gives the uncertain style a fair share of the trials.
    probabilities = action_probabilities(None, ["lucky", "proven"], model, GREEDY)
    assert 0.05 < probabilities["lucky"] < 0.5 < probabilities["proven"]


def test_thompson_draws_are_narrowed_towards_the_posterior_mean_where_the_data_pin_a_style_down():
    stats = {"a": StyleStats(20_000, 800), "b": StyleStats(20_000, 700), "c": StyleStats(50, 2)}
    model = fit_global(stats)
    assert 0 < POSTERIOR_DRAW_SCALE < 1
    clicks = np.array([s.clicks for s in stats.values()])
    exposure = np.array([s.impressions for s in stats.values()])
    strengths, spread = _spread_posterior(model.prior_mean, clicks, exposure)
    widths = {}
    for key, s in list(stats.items()) + [("new", StyleStats())]:
        draws = model.draws[:, model.column(key)]
        mean = model.base_ctr(key)
        # The posterior's spread: each between-style spread's Beta, mixed by its weight.
        alpha = model.prior_mean * strengths + s.clicks
        total = strengths + s.impressions
        means = alpha / total
        posterior_sd = math.sqrt(spread @ (means * (1 - means) / (total + 1) + means**2) - mean**2)
        assert np.all((draws > 0) & (draws < 1))
        assert draws.mean() == pytest.approx(mean, rel=0.1)
        widths[key] = draws.std() / posterior_sd
    # Styles with plenty of data: narrower than the posterior, so most visitors go to
    # the leaders. Styles the data have not pinned down (50 impressions, none): about
    # full width, so one unlucky early is not starved.
    assert widths["a"] == pytest.approx(POSTERIOR_DRAW_SCALE, rel=0.35)
    assert widths["b"] == pytest.approx(POSTERIOR_DRAW_SCALE, rel=0.35)
    assert widths["c"] == pytest.approx(1.0, rel=0.35) and widths["new"] == pytest.approx(1.0, rel=0.35)


def test_how_much_styles_differ_is_learned_so_a_thin_style_is_not_shrunk_for_good():
    alike = {str(i): StyleStats(20_000, 800) for i in range(4)}
    apart = {str(i): StyleStats(20_000, 20_000 * rate) for i, rate in enumerate((0.02, 0.04, 0.06, 0.08))}
    thin = {"thin": StyleStats(100, 4)}
    alike_model, apart_model = fit_global({**alike, **thin}), fit_global({**apart, **thin})
    # No floor: styles shown to be alike are believed alike (the thin style is shrunk
    # to them), styles shown to differ keep their spread.
    assert alike_model.between_cv < 0.1 < 0.3 < apart_model.between_cv
    # Where styles are known to differ, a style seen 100 times may be anywhere among
    # them: its draws are wide, and it wins visitors until it is known.
    def thin_spread(model):
        return model.draws[:, model.column("thin")].std()

    assert thin_spread(apart_model) > 2 * thin_spread(alike_model)


def _category_cells(rates_by_category, impressions, rng):
    """Per category, each style's cell with binomial clicks at its rate."""
    return {category: {key: StyleStats(impressions, float(rng.binomial(impressions, rate)))
                       for key, rate in rates.items()}
            for category, rates in rates_by_category.items()}


def _summed(cells_by_category):
    totals = {}
    for cells in cells_by_category.values():
        for key, cell in cells.items():
            total = totals.get(key, StyleStats())
            totals[key] = StyleStats(total.impressions + cell.impressions, total.clicks + cell.clicks)
    return totals


def test_each_category_learns_the_style_that_suits_it():
    """Lamps click on "b", vases on "a": overall the two styles tie, and each
    category's own model shows its winner."""
    cells = _category_cells({"lamps": {"a": 0.02, "b": 0.06}, "vases": {"a": 0.06, "b": 0.02}}, 5_000,
                            np.random.default_rng(1))
    model = fit_global(_summed(cells), GREEDY, cells)
    for category, winner in (("lamps", "b"), ("vases", "a")):
        within = model.within(category)
        assert within.base_ctr(winner) > 2 * within.base_ctr("a" if winner == "b" else "b")
        assert action_probabilities(None, ["a", "b"], within, GREEDY)[winner] > 0.95
    # A category without data, and an image without a category, get the shop's model.
    assert model.within("chairs") is model and model.within(None) is model


def test_categories_that_change_nothing_leave_the_shops_order():
    """Six categories where the styles do what they do everywhere: every category's
    model keeps the shop's order and about its rates, rather than chasing each
    category's noise."""
    rates = {"a": 0.05, "b": 0.04, "c": 0.03}
    cells = _category_cells({str(c): rates for c in range(6)}, 3_000, np.random.default_rng(2))
    model = fit_global(_summed(cells), GREEDY, cells)
    for category in cells:
        within = model.within(category)
        assert [within.base_ctr(k) for k in rates] == pytest.approx([model.base_ctr(k) for k in rates], rel=0.1)
        assert action_probabilities(None, list(rates), within, GREEDY)["a"] > 0.9


def test_fit_is_deterministic_so_every_process_logs_the_same_propensities():
    stats = {"a": StyleStats(500, 25, 100, 40, 9), "b": StyleStats(300, 10, 30, 10, 2)}
    one, two = fit_global(stats), fit_global(dict(reversed(stats.items())))
    assert np.array_equal(one.draws, two.draws) and one.index == two.index


def test_each_refit_draws_afresh_so_no_style_keeps_a_lucky_stream():
    """Two equal styles split the Thompson draws evenly over refits. With one fixed
    stream of draws for every fit, one of them won 58 % of the draws at every refit,
    whatever the data, and kept the extra traffic for good."""
    shares = []
    for n in range(2_000, 2_100):  # a refit after each impression
        model = fit_global({"a": StyleStats(n, n * 0.04), "b": StyleStats(n, n * 0.04), "c": StyleStats(n, n * 0.03)})
        winners = np.argmax(model.draws[:, [model.column("a"), model.column("b")]], axis=1)
        shares.append(np.mean(winners == 0))
    assert np.mean(shares) == pytest.approx(0.5, abs=0.03)
    assert max(shares) - min(shares) > 0.1  # each refit's own draws


def _simulated_stats(weight, rng, styles=4, impressions=400_000):
    """Aggregates as logged when P(click) = g_s (1 + weight * q), q uniform in [0, 1)."""
    stats = {}
    for s in range(styles):
        g = 0.03 + 0.01 * s
        q = rng.random(impressions)
        clicks = rng.random(impressions) < g * (1 + weight * q)
        stats[str(s)] = StyleStats(impressions, clicks.sum(), q.sum(), (q * q).sum(), q[clicks].sum())
    return stats


def test_history_weight_is_learned_from_the_population():
    rng = np.random.default_rng(3)
    assert fit_global(_simulated_stats(2.0, rng)).history_weight == pytest.approx(2.0, abs=0.25)
    assert fit_global(_simulated_stats(0.0, rng)).history_weight < 0.1


def test_view_preference_favours_the_closest_style_whatever_the_shared_component():
    rng = np.random.default_rng(1)
    shared = rng.normal(size=100) * 3
    styles = {k: shared + rng.normal(size=100) for k in "abcd"}
    table = EmbeddingTable(styles)
    photo = styles["c"] + rng.normal(size=100) * 0.5
    weights = view_preference(table, photo, PolicyParams().temperature)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert max(weights, key=weights.get) == "c" and weights["c"] > 0.8
    assert view_preference(table, photo * 7, 0.5) == pytest.approx(weights)
    assert view_preference(EmbeddingTable({"only": [1.0, 0.0]}), [0.0, 1.0], 0.5) == {"only": 1.0}


def test_a_view_learns_the_look_its_viewers_click():
    # The photo reads as "a"; its viewers click "c" well above the shop's CTR for it.
    model = rich_model({"a": 0.03, "b": 0.03, "c": 0.03})
    photo = {"a": 0.8, "b": 0.1, "c": 0.1}
    params = PolicyParams()

    def viewed(clicks_on_c):
        viewers = {"a": (1000.0, 30.0), "b": (1000.0, 30.0), "c": (1000.0, float(clicks_on_c))}
        return learned_view_preference(photo, viewers, model, params)

    assert learned_view_preference(photo, {}, model, params) == photo  # no viewers yet
    alike = viewed(30)  # they click every style as the shop does: the photo's look holds
    assert max(alike, key=alike.get) == "a" and alike["a"] > 0.5
    few, many = viewed(60), viewed(300)
    assert sum(many.values()) == pytest.approx(1.0)
    assert photo["c"] < few["c"] < many["c"] and many["c"] > many["a"]  # more evidence, more weight
    assert learned_view_preference(photo, {"c": (1000.0, 300.0)}, model, PolicyParams(look_power=0)) == photo
    with pytest.raises(ValueError):
        PolicyParams(look_clicks=0)


def test_rank_styles_returns_the_closest_products_first():
    table = EmbeddingTable({"p1": [1.0, 0.0], "p2": [0.7, 0.7], "p3": [0.0, 1.0], "p4": [-1.0, 0.1]})
    ranked = rank_styles([1.0, 0.2], table, limit=3)
    assert [key for key, _ in ranked] == ["p1", "p2", "p3"]
    assert ranked[0][1] == pytest.approx(1 / math.sqrt(1.04))
    assert rank_styles([1.0, 0.2], table, limit=0) == []
    assert rank_styles([1.0, 0.2], EmbeddingTable({})) == []
    assert len(rank_styles([1.0, 0.2], table)) == 4


def test_preferred_style_is_the_pick_then_the_sticky_choice_then_the_most_browsed():
    state = VisitorState()
    assert state.preferred_style() is None
    state.record_view({"a": 0.2, "b": 0.8}, PolicyParams())
    assert state.preferred_style() == "b"
    state.current = "a"
    assert state.preferred_style() == "a"
    state.set_pick("c")
    assert state.preferred_style() == "c"


def test_params_are_validated():
    for bad in ({"epsilon": 1.5}, {"temperature": 0}, {"history_decay": 1.0}, {"max_styles": MAX_STYLES_LIMIT + 1}):
        with pytest.raises(ValueError):
            PolicyParams(**bad)


# ------------------------------------------------------------------------ evaluation


def _synthetic_logs(rng, n, truth, logging):
    """Contexts are visitor types 0/1 with known CTRs per action, logged by ``logging``;
    impressions come in clusters of 4 (one visitor's)."""
    actions = sorted(truth[0])
    kinds = (rng.random(n) < 0.4).astype(int)
    cumulative = np.array([np.cumsum([logging[k][a] for a in actions]) for k in (0, 1)])
    picked = (rng.random(n)[:, None] > cumulative[kinds]).sum(axis=1)
    ctr = np.array([[truth[k][a] for a in actions] for k in (0, 1)])
    clicked = rng.random(n) < ctr[kinds, picked]
    return [
        Logged(int(k), actions[a], logging[k][actions[a]], float(c), cluster=i // 4)
        for i, (k, a, c) in enumerate(zip(kinds, picked, clicked))
    ]


TRUTH = {0: {"a": 0.05, "b": 0.02, "c": 0.03}, 1: {"a": 0.02, "b": 0.09, "c": 0.04}}
LOGGING = {0: {"a": 0.9, "b": 0.05, "c": 0.05}, 1: {"a": 0.9, "b": 0.05, "c": 0.05}}


def target(kind, action):
    """The personalized policy: a for type 0, b for type 1."""
    return float(action == ("a" if kind == 0 else "b"))


TARGET_VALUE = 0.6 * 0.05 + 0.4 * 0.09


def test_ipw_interval_holds_the_true_value_of_a_known_policy():
    logs = _synthetic_logs(np.random.default_rng(11), 40_000, TRUTH, LOGGING)
    for estimator in (ipw, snipw):
        estimate = estimator(logs, target)
        assert TARGET_VALUE in estimate, (estimator.__name__, estimate)
        assert estimate.high - estimate.low < 0.03
    # The logging policy's own value is recovered too (all weights 1).
    own = ipw(logs, lambda kind, action: LOGGING[kind][action])
    assert own.low < own.value < own.high


def test_ipw_intervals_cover_about_95_percent():
    rng = np.random.default_rng(5)
    covered = sum(TARGET_VALUE in ipw(_synthetic_logs(rng, 3_000, TRUTH, LOGGING), target) for _ in range(120))
    assert 0.88 <= covered / 120 <= 1.0


def test_ipw_refuses_bad_input():
    with pytest.raises(ValueError):
        ipw([], target)
    with pytest.raises(ValueError):
        ipw([Logged(0, "a", 0.0, 1.0)], target)


def test_wilson_intervals():
    zero = wilson(0, 10)
    assert (zero.value, zero.low) == (0.0, 0.0) and zero.high == pytest.approx(0.2775, abs=1e-3)
    half = wilson(50, 100)
    assert half.low == pytest.approx(0.4038, abs=1e-3) and half.high == pytest.approx(0.5962, abs=1e-3)
    assert (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0)
    per_style = ctr_by_style({"a": StyleStats(1000, 50), "b": StyleStats(0, 0)})
    assert per_style["a"].value == 0.05 and 0.05 in per_style["a"] and per_style["b"].n == 0


def test_random_coverage_of_wilson():
    rng = random.Random(2)
    hits = 0
    for _ in range(400):
        clicks = sum(rng.random() < 0.04 for _ in range(300))
        hits += 0.04 in wilson(clicks, 300)
    assert hits / 400 > 0.9


def test_history_weight_stays_at_zero_until_the_logs_show_browsing_predicts_clicks():
    """Where browsing carries no taste, noise must not steer looks: thin logs without any
    history effect give about 0 (mostly exactly 0), where a true weight of 2 shows."""
    def weights(true_weight):
        return np.array([fit_global(_simulated_stats(true_weight, np.random.default_rng(seed), impressions=3_000))
                         .history_weight for seed in range(20)])

    none, some = weights(0.0), weights(2.0)
    assert np.mean(none == 0) >= 0.6 and none.max() < 0.3
    assert some.min() > 0.5
    assert fit_global({}).history_weight == 0.0  # a new shop shows its best styles, not its photos' look-alikes
