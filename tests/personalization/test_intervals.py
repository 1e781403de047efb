"""Intervals the analytics page shows: valid from the first visitor to a busy shop."""
import numpy as np
import pytest

from stylestore.personalization.evaluation import clustered_rate, relative_lift


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
