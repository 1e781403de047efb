"""Intervals the analytics page shows: valid from the first visitor to a busy shop."""
import numpy as np
import pytest

from stylestore.personalization.evaluation import Z95, clustered_rate, ratio_of_sums, relative_lift, t_quantile


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


def test_lift_is_withheld_until_both_groups_have_clicks():
    rng = np.random.default_rng(2)
    assert relative_lift(visitors(rng, 2000), (np.zeros(50), np.full(50, 10))) is None
    assert relative_lift(visitors(rng, 2000), visitors(rng, 5)) is None


@pytest.mark.parametrize("uplift", [0.8, 1.0, 1.25])
def test_styled_vs_original_interval_covers_the_true_uplift_in_95_percent_of_shops(uplift):
    """A control group of 10 % of 3,000 visitors, 400 simulated shops per true uplift."""
    rng = np.random.default_rng(int(uplift * 100))
    covered = widths = 0
    for _ in range(400):
        estimate = relative_lift(visitors(rng, 2700, uplift), visitors(rng, 300))
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
        estimate = relative_lift(visitors(rng, 360, 1.25), visitors(rng, 40))
        if estimate is not None:
            shown += 1
            covered += estimate.low <= 0.25 <= estimate.high
    assert shown > 400 and covered / shown >= 0.94


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
