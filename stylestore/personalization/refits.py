"""When a process refits the population model (``population.global_model``).

Plain Python, without Django, so that ``bench/personalization.py`` simulates the same
cadence as the shop.
"""
import math

#: The population model is refitted once the counters may have grown by this share since
#: it was last fitted (at the rate they grew between its last two fits), and at most
#: every ``MIN_REFIT_SECONDS``. Tuned with ``bench/personalization.py --refit-share``
#: (docs/personalization-bench.md): refitting once a minute, a shop of 30,000 visitors an
#: hour had learnt little from its first 1,000 (no signal's cold start 0.72 of the best
#: single style, against 0.93 at 1,000 visitors an hour); at 0.05 it learns as much as
#: the quiet shop (0.02 did no better with more refits, 0.1 learnt less).
REFIT_GROWTH = 0.05
MIN_REFIT_SECONDS = 1


class RefitClock:
    """When this process refits the population model: every ``POPULATION_REFIT_SECONDS``
    where the counters hold much for what they gain, sooner where they grow fast.

    A refit costs one pair of aggregate queries. What it gains is the share of new
    evidence: in an established shop a minute adds a sliver of the retention window's
    counters, but in a new shop a busy minute can be most of what the model will know
    about its first 1,000 visitors. So the period is ``REFIT_GROWTH`` of the time the
    counters took to reach their size at their latest rate: seconds in a shop's first
    minutes, the full period within about twenty. Periods are powers of two seconds
    (capped at the setting), on clock-aligned buckets like the setting's own, so
    processes that see the same counters refit together; the model is computed lazily,
    so an idle shop asks nothing.
    """

    def __init__(self):
        self.period = self.next_period = MIN_REFIT_SECONDS
        self.switch_at = 0.0
        self.last = None  # (time, impressions) of the last fit

    def bucket(self, now, longest) -> tuple[float, int]:
        """The period in force and ``now``'s bucket of it: a new period starts when the
        current bucket ends, so the model cached for it stays valid until then."""
        if now >= self.switch_at:
            self.period = min(self.next_period, longest)
            self.switch_at = (now // self.period + 1) * self.period
        return self.period, int(now // self.period)

    def fitted(self, now, impressions):
        """Note a fit at ``now`` from ``impressions``: the next period follows the
        counters' growth since the previous fit (no growth reads as one impression, so
        an unchanging shop backs off to the full period, and an empty one stays quick)."""
        last, self.last = self.last, (now, impressions)
        seconds = REFIT_GROWTH * impressions * (now - last[0]) / max(impressions - last[1], 1) if last else 0
        self.next_period = float(2 ** max(0, math.floor(math.log2(max(seconds, MIN_REFIT_SECONDS)))))
