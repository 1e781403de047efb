"""Intervals the analytics page shows: valid from the first visitor to a busy shop."""
import numpy as np
import pytest

from stylestore.personalization.evaluation import (Z95, Logged, clustered_rate, fieller_ratio, logged_over_target,
                                                   mean_per_unit, ratio_of_sums, relative_lift, t_quantile)


def visitors(rng, n, uplift=1.0):
    """Clicks and impressions per visitor: people differ several-fold in how much they click."""
    rates = np.minimum(rng.beta(2, 48, size=n) * uplift, 1.0)
    impressions = rng.integers(1, 30, size=n)
    return rng.binomial(impressions, rates), impressions


@pytest.mark.parametrize("successes,trials", [([0], [1]), ([0, 0, 0], [3, 1, 2]), ([1], [1]), ([2, 0], [2, 5])])
def test_rates_at_tiny_samples_stay_inside_0_1_with_a_positive_width(successes, trials):
    estimate = clustered_rate(np.array(successes), np.array(trials))
    assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0
    assert estimate.high - estimate.low > 0.05


def test_rate_interval_narrows_with_visitors_and_covers_the_truth():
    rng = np.random.default_rng(0)
    small = clustered_rate(*visitors(rng, 50))
    large = clustered_rate(*visitors(rng, 50_000))
    assert large.high - large.low < (small.high - small.low) / 10
    assert 0.04 in large  # the mean of Beta(2, 48)


def test_rate_coverage_accounts_for_visitors_clicking_alike():
    """Impressions of one visitor are correlated: a plain Wilson interval over
    impressions would cover far less than 95 %."""
    rng = np.random.default_rng(1)
    covered = sum(0.04 in clustered_rate(*visitors(rng, 300)) for _ in range(400))
    assert covered / 400 >= 0.93


def lift(treated, control):
    """The page's styled-vs-original lift of clicks per impression, from per-visitor data."""
    return relative_lift(clustered_rate(*treated), clustered_rate(*control), len(treated[0]) + len(control[0]))


def test_lift_is_withheld_until_the_control_group_has_clicks_and_is_wide_while_it_has_few():
    rng = np.random.default_rng(2)
    assert lift(visitors(rng, 2000), (np.zeros(50), np.full(50, 10))) is None
    few = lift(visitors(rng, 2000), (np.array([1.0, 0, 0, 0, 0]), np.full(5, 10.0)))
    assert few.n == 2005 and -1 < few.low < 0 < few.value < few.high and few.high > 5
    none_styled = lift((np.zeros(200), np.full(200, 10.0)), visitors(rng, 50))
    assert (none_styled.value, none_styled.low) == (-1, -1) and -1 < none_styled.high < 0


@pytest.mark.parametrize("uplift", [0.8, 1.0, 1.25])
def test_styled_vs_original_interval_covers_the_true_uplift_in_95_percent_of_shops(uplift):
    """A control group of 10 % of 3,000 visitors, 400 simulated shops per true uplift."""
    rng = np.random.default_rng(int(uplift * 100))
    covered = widths = 0
    for _ in range(400):
        estimate = lift(visitors(rng, 2700, uplift), visitors(rng, 300))
        assert estimate.low > -1 and estimate.high > estimate.low
        covered += estimate.low <= uplift - 1 <= estimate.high
        widths += estimate.high - estimate.low
    assert covered / 400 >= 0.94
    assert widths / 400 < 0.6  # informative, not merely wide


def test_a_young_shops_small_control_group_still_gets_a_valid_interval():
    """40 control visitors (10 % of a shop's first 400): few enough that the spread of
    their clicks is itself uncertain."""
    rng = np.random.default_rng(40)
    shown = covered = 0
    for _ in range(600):
        estimate = lift(visitors(rng, 360, 1.25), visitors(rng, 40))
        if estimate is not None:
            shown += 1
            covered += estimate.low <= 0.25 <= estimate.high
    assert shown > 590 and covered / shown >= 0.94


@pytest.mark.parametrize("control_visitors", [40, 80, 150, 300])
def test_purchases_per_visitor_get_a_valid_lift_from_the_first_few_buyers(control_visitors):
    """5 % of visitors buy (some twice as often as others), styled images sell 1.5x. A
    lift shown only once 10 control visitors had bought held the truth in 0-86 % of the
    shops that got one at 80-150 control visitors: those whose control group had done
    unusually well."""
    rng = np.random.default_rng(control_visitors)

    def purchases(n, rate):
        keen = rng.random(n) < 0.3
        return rng.poisson(np.where(keen, rate * 2.5, rate * 0.25 / 0.7)).astype(float)

    shown = covered = 0
    for _ in range(400):
        styled, original = purchases(5 * control_visitors, 0.075), purchases(control_visitors, 0.05)
        estimate = relative_lift(mean_per_unit(styled), mean_per_unit(original), 6 * control_visitors)
        if estimate is not None:
            shown += 1
            covered += estimate.low <= 0.5 <= estimate.high
    assert shown >= 400 * (0.8 if control_visitors == 40 else 0.95)
    assert covered / shown >= 0.95


@pytest.mark.parametrize("df,expected", [(1, 12.7062), (2, 4.3027), (3, 3.1824), (5, 2.5706), (10, 2.2281),
                                         (30, 2.0423), (1000, 1.9623)])
def test_t_quantiles_match_the_tables(df, expected):
    assert t_quantile(df) == pytest.approx(expected, abs=2e-4)
    assert t_quantile(10**7) == pytest.approx(Z95, abs=1e-4)


def test_an_estimate_carried_by_a_few_heavy_weights_keeps_its_coverage():
    """Off-policy: the target's action was logged with probability 1 % (explored), so
    its value rests on about 14 clicks of weight 100 among 40,000 impressions; the
    normal interval held the truth in 93 % of such replays, this one in 97 %."""
    rng = np.random.default_rng(3)
    visitors, impressions, explored_share, truth = 2000, 20, 0.01, 0.035
    covered = 0
    for _ in range(600):
        clicks = rng.binomial(rng.binomial(impressions, explored_share, size=visitors), truth)
        estimate = ratio_of_sums(clicks / explored_share, np.full(visitors, float(impressions)))
        covered += truth in estimate
    assert 0.94 <= covered / 600 <= 0.99


def test_ratio_of_sums_at_tiny_samples():
    one = ratio_of_sums(np.array([1.0]), np.array([4.0]))
    assert (one.value, one.low, one.high) == (0.25, -np.inf, np.inf)
    two = ratio_of_sums(np.array([1.0, 0.0]), np.array([4.0, 4.0]), count=8)
    assert two.low < 0.125 < two.high and two.n == 8
    with pytest.raises(ValueError):
        ratio_of_sums(np.array([0.0]), np.array([0.0]))


@pytest.mark.parametrize("numerators,denominators", [([0, 0, 1.0], [0, 0, 1.0135]), ([0, 3.0], [0, 2.0])])
def test_a_ratio_one_visitor_carries_is_unbounded_not_a_point(numerators, denominators):
    estimate = ratio_of_sums(np.array(numerators), np.array(denominators))
    assert (estimate.low, estimate.high) == (-np.inf, np.inf)


def policy_against_best_single(rng, n, heterogeneity=True):
    """The analytics page's technical comparison on ``n`` visitors: per visitor, the
    clicks on what the policy showed (style 1 mostly, 0 and 2 when exploring) and the
    clicks on style 0 weighted by the inverse of its propensity; and the true ratio."""
    ctr, shown_with = np.array([0.10, 0.12, 0.08]), np.array([0.1, 0.8, 0.1])
    impressions = rng.integers(1, 12, size=n)
    shown = [rng.choice(3, k, p=shown_with) for k in impressions]
    # Some visitors click four times as readily as others.
    keen = rng.random(n) < 0.5 if heterogeneity else np.full(n, 0.5)
    clicks = [rng.random(len(s)) < ctr[s] * (1.6 if k is True else 0.4 if k is False else 1.0)
              for s, k in zip(shown, keen.tolist())]
    rewards = np.array([c.sum() for c in clicks], dtype=float)
    weighted = np.array([(c & (s == 0)).sum() / shown_with[0] for c, s in zip(clicks, shown)])
    return rewards, weighted, impressions.astype(float), float(shown_with @ ctr / ctr[0])


def test_the_relative_lift_says_what_the_absolute_lift_says_about_a_difference():
    """Both compare the policy with the best single style on the same visitors; the
    delta method's relative interval, centred on its estimate, disagreed with the paired
    difference on whether there was one on 8.5 % of such pages."""
    rng = np.random.default_rng(4)
    runs, agree, covered = 300, 0, 0
    for _ in range(runs):
        rewards, weighted, impressions, truth = policy_against_best_single(rng, 500)
        relative = fieller_ratio(rewards, weighted)
        absolute = ratio_of_sums(rewards - weighted, impressions)
        agree += (1.0 in relative) == (0.0 in absolute)
        covered += truth in relative
    assert agree / runs >= 0.98
    assert 0.93 <= covered / runs <= 0.99


def test_the_fieller_interval_is_every_ratio_the_paired_test_keeps():
    rng = np.random.default_rng(5)
    rewards, weighted, _, _ = policy_against_best_single(rng, 400)
    estimate = fieller_ratio(rewards, weighted)
    assert estimate.low < estimate.value < estimate.high

    def t_statistic(rho):
        residuals = rewards - rho * weighted
        return residuals.sum() / np.sqrt(len(residuals) * ((residuals - residuals.mean()) ** 2).sum()
                                         / (len(residuals) - 1))

    # Both ends on the same t quantile: the normal one's, or more for clusters as uneven
    # as a few heavily weighted clicks make them.
    at_ends = [abs(t_statistic(rho)) for rho in (estimate.low, estimate.high)]
    assert at_ends[0] == pytest.approx(at_ends[1], rel=1e-6) and Z95 < at_ends[0] < 2.5
    assert abs(t_statistic(estimate.value)) < 1e-9


def test_a_fieller_ratio_without_a_clear_denominator_is_unbounded():
    """A baseline whose weighted clicks are a few visitors' is not clearly above zero: no
    finite interval holds the ratio, and the page says it needs more visitors."""
    rewards = np.array([1.0, 0, 2, 1, 0, 1, 0, 0, 1, 1])
    weighted = np.array([0.0, 0, 10, 0, 0, 0, 0, 0, 0, 0])
    assert (fieller_ratio(rewards, weighted).low, fieller_ratio(rewards, weighted).high) == (-np.inf, np.inf)
    one = fieller_ratio(np.array([1.0, 0.0]), np.array([2.0, 0.0]), count=9)
    assert (one.value, one.low, one.high, one.n) == (0.5, -np.inf, np.inf, 9)
    with pytest.raises(ValueError):
        fieller_ratio(np.array([1.0]), np.array([0.0]))


def test_the_lift_from_a_log_groups_impressions_by_visitor():
    """``logged_over_target``: the page's relative lift from logged impressions, each
    visitor's summed as one cluster (the bench replays it against the true lift)."""
    rng = np.random.default_rng(6)
    logs, clicks, weighted = [], np.zeros(300), np.zeros(300)
    for visitor in range(300):
        for _ in range(int(rng.integers(1, 8))):
            action = "a" if rng.random() < 0.9 else "b"
            reward = float(rng.random() < (0.12 if action == "a" else 0.08))
            logs.append(Logged(None, action, 0.9 if action == "a" else 0.1, reward, cluster=visitor))
            clicks[visitor] += reward
            weighted[visitor] += reward * (action == "b") / 0.1
    estimate = logged_over_target(logs, lambda context, action: float(action == "b"))
    by_visitor = fieller_ratio(clicks, weighted)
    assert (estimate.value, estimate.low, estimate.high) == pytest.approx(
        (by_visitor.value, by_visitor.low, by_visitor.high))
    assert estimate.n == len(logs) and estimate.low < 0.116 / 0.08 < estimate.high
