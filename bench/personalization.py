"""Simulate shoppers against the real personalization policy, in worlds built on other
assumptions than the policy's own, and compare it with the oracle, the best single style
and a random style.

    .venv/bin/python bench/personalization.py                  # evaluation seeds 1-8
    .venv/bin/python bench/personalization.py --tuning         # tuning seeds 1001-1008
    .venv/bin/python bench/personalization.py --worlds no_signal category --visitors 500

Tune on ``--tuning`` (seeds 1001 and up); report only on the evaluation seeds (1 and up),
which tuning never looks at.

The worlds
----------
Every world has 11 styles with embeddings (random unit vectors plus a shared component,
pairwise cosine about 0.5, like real Magenta style vectors), 400 products whose photo
embedding is a style's embedding plus noise 1.5x its norm (the embedding's "look" of a
product is the nearest style), 6 product categories, each product ready in each style with
probability 0.85 (at least one), style popularity Dirichlet(2) and a per-style appeal
exp(N(0, 0.1)). A visitor has a base click rate (log-normal, median 3 %, sigma 0.5, clipped
to 0.5-15 %), 20 product views, and sees one image per view, chosen by the policy from the
views so far, this one included, as the shop's product page chooses (``events.expect_view``;
a headless storefront posts the view before it asks for the image); a product viewed
again is shown in the look it was shown in before, as the shop remembers it
(``personalization.looks``). The click probability of a style is base x appeal x 2.5 when
it is the visitor's taste for that product (capped at 50 %). ``--products`` sets the
catalogue's size: in a small one (48, as the outside measurement of the personalization
issue had) a visitor views the same products again, so more of their impressions keep
the looks chosen early in the visit. What differs:

* ``embedding``  the policy's own assumption, for reference: a favourite style (by
  popularity); 60 % of views are products whose embedding look is the favourite.
* ``visual``     taste lives in a visual space the embedding captures only partly: 60 % of
  views are products whose *true* look is the favourite, and a product's true look is its
  embedding look for only 35 % of products (a random style otherwise).
* ``category``   taste follows the product's category: each category has a style that
  suits it (lift 2.5 on that style for products of that category, whoever looks); visitors
  browse their favourite category 70 % of the time. Browsing says nothing the embedding
  sees.
* ``unrelated``  a favourite style as in ``embedding``, but browsing is uniform over
  products: only reactions carry taste.
* ``drift``      ``embedding``, and the favourite changes to another style after 10 views.
* ``clickers``   ``embedding`` with 15 % heavy clickers (base 12 %) and 85 % light ones
  (1.5 %).
* ``no_signal``  no taste at all, uniform browsing, and styles differ in appeal
  (exp(N(0, 0.3))): the best single style is the best anyone can do.
* ``original_best``  the original photo is one more arm, offered on every product and
  logged like a style (key ``"original"``, no embedding), and it is what shoppers like
  best: 1.2x the appeal of the most appealing style; no taste, uniform browsing. The
  best single arm is the original; the policy has to find it.
* ``bots``       ``no_signal``'s shoppers, and crawlers that run the page's script: 20 %
  of visitors view 200 products each and never click (more than two thirds of all
  impressions). Their impressions are logged like anyone's; what they were shown
  counts for nothing (their true CTR is 0 whatever they see), so the ratios are the
  shoppers'.

Browsing or reactions carry taste the policy can use in ``embedding``, ``visual``,
``drift`` and ``clickers`` (target: >= 1.10 x best single); elsewhere the target is not to
lose: >= 0.97 x best single (the best single arm, the original counted, in
``original_best``).

The run
-------
Per world and seed, an empty shop: the first ``--cold`` visitors (1,000) are the cold
start, the next ``--visitors`` (2,000) the measured phase; both are reported. The policy
learns only from its own logged impressions (style, history share, click), aggregated like
``StyleHourlyStats`` (per style, and per style and product category, as a shop whose
``SOURCE_MODELS`` names a ``category`` lookup does; a visitor's first
``--counted-per-day`` impressions, as ``STYLESTORE["COUNTED_IMPRESSIONS_PER_DAY"]``
counts them, each simulated visit being one day's) and refitted every ``--refit-every``
visitors (20: about a minute of a shop with 1,000 visitors an hour; ``--refit-every
1000`` is a fit once per hour), and sooner while the counters grow fast, as the shop's
``refits.RefitClock`` refits: once the impressions since the last refit reach
``--refit-share`` (its ``REFIT_GROWTH``) of those counted, after at least
``--refit-least`` (its ``MIN_REFIT_SECONDS`` at that traffic). A busier shop is a larger
``--refit-every`` with a larger ``--refit-least``. The same counted impressions and clicks are credited,
per style, to each product among the visitor's last ``MAX_RECENT_VIEWS`` views, as
``ViewerDailyStats`` counts them, and read as of the last refit: a product's view counts
for the look its viewers click (``policy.learned_view_preference``, the shop's
``personalization.viewers``). Visitors shop one after another unless ``--at-once K``
lets K shop in turn, an impression each, as a live shop's concurrent shoppers do; and
``--refit-impressions R`` refits also after every R impressions, as a small shop's
``POPULATION_REFIT_SECONDS`` does (after nearly every visitor). The views are the same
whatever the cadence, so runs that differ only in it are paired. As in the shop, a
product viewed again while it is among the visitor's ``MAX_RECENT_VIEWS`` latest views
is a refresh, not a new view, and the visitor's
state passes through its stored form (two decimals) between views;
``bench/personalization_api.py`` checks this mirror against a live shop. Clicks are
drawn from a stream of their own, so the visitors are the same whatever a policy shows
them: two policies run on one seed are compared on the same shoppers.

Baselines are evaluated on exactly the same visitors and product views: the oracle shows
each impression's truly best available style; "best single" the style with the best true
CTR over the run's impressions (the next best where it is not ready); random a uniformly
random available one. For reference, each line also shows a learner of the best
single style (``single_style_learner``: Thompson sampling updated after every
impression) against the same hindsight baseline: in worlds without usable taste it is
what learning costs anyone, the bar the policy's cold start can be held to. CTRs are
the mean true click probability of what was shown (the same quantity as counted
clicks, with less noise). Ratios pool the seeds; their 95 %
intervals treat each run as the unit (delta method on the ratio of per-run sums, a t
quantile): one run's figures depend on its learning path (which style happened to lead
early) far more than on its visitors, and an interval over visitors hid that. The runs
are simulated in parallel (``--jobs``, default the cores).

``--control-coverage N`` checks the analytics page's "styled vs original" interval
instead: N runs (seeds 1..N, the worlds in turn) of ``--cold`` visitors with a control group
of ``CONTROL_SHARE`` of the visitors (original photos everywhere, as
``STYLESTORE["CONTROL_SHARE"]`` does); the original photo's appeal is
``ORIGINAL_APPEAL`` (no one's taste). The run's truth is the ratio of the styled
visitors' true CTR (the true click probabilities of what they were shown) to every
visitor's true CTR on the original photos of the products they viewed; the interval is
``evaluation.relative_lift`` of the two groups' ``clustered_rate`` of counted clicks, as
the page computes it. At least 95 % of the intervals should hold the truth.

``--late-best`` holds each world's most appealing style back until the cold start is
over (a product it alone was ready in shows another style meanwhile), as a style an admin
adds to a running shop: the measured phase then shows how soon the policy adopts a new
style that is better than everything it has learnt.

Last, each run's measured logs are replayed with ``evaluation.ipw`` and ``snipw`` for
the random style, whose true CTR on those impressions is known, and the policy's lift
over it as the analytics page's technical section computes a relative lift
(``evaluation.logged_over_target``: the policy's clicks per visitor against the random
style's inverse-propensity-weighted ones): at least 19 in 20 of the 95 % intervals
should hold the truth, or the logged probabilities (or the intervals) are wrong, and so
would be the analytics page's.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Deque, Dict, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestore.personalization.evaluation import (  # noqa: E402
    Logged, clustered_rate, ipw, logged_over_target, relative_lift, snipw, t_quantile)
from stylestore.personalization.looks import NOT_DRAWN  # noqa: E402
from stylestore.personalization.policy import (  # noqa: E402
    FALLBACK_CTR,
    EmbeddingTable,
    PolicyParams,
    Remembered,
    StyleStats,
    VisitorState,
    learned_view_preference,
    choose,
    fit_global,
    view_preference,
)
from stylestore.personalization.refits import REFIT_GROWTH  # noqa: E402

STYLES = 11
DIM = 64
PRODUCTS = 400
CATEGORIES = 6
SHARED_COMPONENT = 1.0
PRODUCT_NOISE = 1.5
COVERAGE = 0.85
POPULARITY_CONCENTRATION = 2.0
APPEAL_SIGMA = 0.1
NO_SIGNAL_APPEAL_SIGMA = 0.3
BASE_CTR_MEDIAN = 0.03
BASE_CTR_SIGMA = 0.5
BASE_CTR_RANGE = (0.005, 0.15)
HEAVY_CLICKERS, HEAVY_CTR, LIGHT_CTR = 0.15, 0.12, 0.015
TASTE_LIFT = 2.5
MAX_CLICK_PROBABILITY = 0.5
CART_RATE = 0.15
IMPRESSIONS = 20
TASTE_BROWSING = 0.6
CATEGORY_BROWSING = 0.7
VISUAL_AGREEMENT = 0.35
DRIFT_AT = 10
#: In ``original_best``: the original photo's appeal over the most appealing style's.
ORIGINAL_LEAD = 1.2
#: The key the original photo is chosen and logged under when it is an arm.
ORIGINAL_ARM = "original"
#: The original photo's appeal where it is not the winning arm (the styles' median is 1).
ORIGINAL_APPEAL = 1.0
#: Share of visitors in the control group in ``--control-coverage`` runs.
CONTROL_SHARE = 0.1
#: In ``bots``: the share of visitors that are crawlers, and how many products each views.
BOT_SHARE = 0.2
BOT_VIEWS = 200
#: ``STYLESTORE["COUNTED_IMPRESSIONS_PER_DAY"]``'s default.
COUNTED_IMPRESSIONS_PER_DAY = 40
#: ``events.MAX_RECENT_VIEWS``: the products a visitor's reactions are credited to.
MAX_RECENT_VIEWS = 16

LATE_BEST_NOTE = "; each world's most appealing style joins after the cold start (--late-best)"
WORLDS = ("embedding", "visual", "category", "unrelated", "drift", "clickers", "no_signal", "original_best", "bots")
#: The worlds ``--control-coverage`` cycles through (its figures were measured on these).
CONTROL_WORLDS = WORLDS[:8]
#: Worlds where browsing or reactions carry taste the policy can see.
TASTE_WORLDS = {"embedding", "visual", "drift", "clickers"}
EVALUATION_SEEDS = tuple(range(1, 9))
TUNING_SEEDS = tuple(range(1001, 1009))
ARMS = ("policy", "oracle", "best_single", "random", "learner")


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


class World:
    """The hidden truth of one world and seed."""

    def __init__(self, kind: str, seed: int, products: int = PRODUCTS, late_best_after: int | None = None):
        rng = np.random.default_rng([seed, WORLDS.index(kind)])
        self.kind = kind
        self.products = products
        self.rng = rng
        #: Clicks and add to carts draw from their own stream: the visitors and what they
        #: view are then the same whatever the policy shows, so two policies run on a
        #: seed are compared on the same shoppers (paired).
        self.outcomes = np.random.default_rng([seed, WORLDS.index(kind), 1])
        self.keys = [f"s{i}" for i in range(STYLES)]
        shared = _unit_rows(rng.normal(size=(1, DIM)))
        self.style_vectors = _unit_rows(SHARED_COMPONENT * shared + _unit_rows(rng.normal(size=(STYLES, DIM))))
        noise = _unit_rows(rng.normal(size=(products, DIM))) * PRODUCT_NOISE
        self.product_vectors = _unit_rows(self.style_vectors[rng.integers(STYLES, size=products)] + noise)
        embedding_look = np.argmax(self.product_vectors @ self.style_vectors.T, axis=1)
        if kind == "visual":
            agree = rng.random(products) < VISUAL_AGREEMENT
            self.look = np.where(agree, embedding_look, rng.integers(STYLES, size=products))
        else:
            self.look = embedding_look
        self.products_by_look = [np.flatnonzero(self.look == s) for s in range(STYLES)]
        self.category = rng.integers(CATEGORIES, size=products)
        self.products_by_category = [np.flatnonzero(self.category == c) for c in range(CATEGORIES)]
        self.category_style = rng.integers(STYLES, size=CATEGORIES)

        ready = rng.random((products, STYLES)) < COVERAGE
        ready[np.arange(products), rng.integers(STYLES, size=products)] = True
        self.ready = ready
        self.available = [np.flatnonzero(row) for row in ready]
        self.popularity = rng.dirichlet(np.full(STYLES, POPULARITY_CONCENTRATION))
        sigma = NO_SIGNAL_APPEAL_SIGMA if kind in ("no_signal", "bots") else APPEAL_SIGMA
        self.appeal = np.exp(rng.normal(0.0, sigma, size=STYLES))
        self.original_appeal = ORIGINAL_APPEAL
        if kind == "original_best":
            # One more arm, the original photo: every product has it, and it wins.
            self.keys.append(ORIGINAL_ARM)
            self.ready = np.hstack([ready, np.ones((products, 1), dtype=bool)])
            self.available = [np.flatnonzero(row) for row in self.ready]
            self.original_appeal = ORIGINAL_LEAD * self.appeal.max()
            self.appeal = np.append(self.appeal, self.original_appeal)
        self._late = None
        if late_best_after is not None:
            # The most appealing style joins after that many visitors; until then a product
            # it alone was ready in shows another style (fixed by the seed).
            best = int(np.argmax(self.appeal[:STYLES]))
            alone = np.flatnonzero(self.ready.sum(axis=1) == self.ready[:, best])
            # Its own stream: the visitors stay those of the same seed without --late-best.
            other = (best + 1 + np.random.default_rng([seed, WORLDS.index(kind), 2]).integers(
                STYLES - 1, size=len(alone))) % STYLES
            self.ready[alone, other] = True
            self._late = (late_best_after, best, self.ready[:, best].copy())
            self.ready[:, best] = False
            self.available = [np.flatnonzero(row) for row in self.ready]
        self._visitors = 0

    def visitor(self):
        """A base click rate, a function (view index -> (product, taste style or -1)) and
        how many products the visitor views."""
        rng, kind = self.rng, self.kind
        self._visitors += 1
        if self._late is not None and self._visitors == self._late[0] + 1:
            _after, best, ready = self._late
            self.ready[:, best] = ready
            self.available = [np.flatnonzero(row) for row in self.ready]
        views = IMPRESSIONS
        if kind == "clickers":
            base = HEAVY_CTR if rng.random() < HEAVY_CLICKERS else LIGHT_CTR
        else:
            base = float(np.clip(np.exp(rng.normal(np.log(BASE_CTR_MEDIAN), BASE_CTR_SIGMA)), *BASE_CTR_RANGE))
        favourite = int(rng.choice(STYLES, p=self.popularity))
        later = int(rng.choice(STYLES - 1))
        later += later >= favourite
        home = int(rng.integers(CATEGORIES))

        def view(t: int) -> Tuple[int, int]:
            if kind == "category":
                pool = self.products_by_category[home] if rng.random() < CATEGORY_BROWSING else None
                product = (int(rng.integers(self.products)) if pool is None or not len(pool)
                           else int(pool[rng.integers(len(pool))]))
                return product, int(self.category_style[self.category[product]])
            if kind in ("no_signal", "original_best", "bots"):
                return int(rng.integers(self.products)), -1
            taste = later if kind == "drift" and t >= DRIFT_AT else favourite
            pool = self.products_by_look[taste]
            if kind == "unrelated" or not len(pool) or rng.random() >= TASTE_BROWSING:
                return int(rng.integers(self.products)), taste
            return int(pool[rng.integers(len(pool))]), taste

        if kind == "bots" and rng.random() < BOT_SHARE:
            base, views = 0.0, BOT_VIEWS
        return base, view, views

    def truth(self, base: float, taste: int) -> np.ndarray:
        p = base * self.appeal
        if taste >= 0:
            p[taste] *= TASTE_LIFT
        return np.minimum(p, MAX_CLICK_PROBABILITY)

    def original_truth(self, base: float) -> float:
        """The click probability of the original photo (no one's taste)."""
        return min(base * self.original_appeal, MAX_CLICK_PROBABILITY)


@dataclass
class Run:
    """Per-visitor sums of true click probability for each arm, cold start then measured."""

    sums: Dict[str, np.ndarray]
    #: Per visitor: in the control group; counted clicks; the true CTR sum of the
    #: original photos of the products viewed.
    control: np.ndarray
    counted: np.ndarray
    original: np.ndarray
    clicks: int
    reasons: Dict[str, int]
    logs: List[Logged]
    history_weight: float


@dataclass(frozen=True)
class Cadence:
    """When the population model is refitted, and how many visitors shop at once."""

    #: Refit before every ``visitors``-th visitor starts (20: about a minute of a shop
    #: with 1,000 visitors an hour).
    visitors: int = 20
    #: Refit also after every ``impressions`` impressions of all visitors (0: never);
    #: 20 is after about every visitor, as a small shop's ``POPULATION_REFIT_SECONDS``
    #: does.
    impressions: int = 0
    #: Visitors shopping at once, one impression each in turn, as a live shop's
    #: concurrent shoppers do: one visitor's early impressions are then fitted while
    #: others are still mid-visit.
    at_once: int = 1
    #: Refit also once the impressions since the last refit reach this share of those
    #: counted before it (0: never), but after no fewer than ``least``: the shop's
    #: ``refits.RefitClock`` (``least``: its ``MIN_REFIT_SECONDS`` at the traffic
    #: ``visitors`` stands for, about 7 impressions a second).
    share: float = REFIT_GROWTH
    least: int = 7

    def __str__(self) -> str:
        every = f"every {self.visitors} visitors" + (f" and {self.impressions} impressions" if self.impressions else "")
        if self.share:
            every += f" and once they grew by {self.share:g} (at least {self.least} impressions)"
        return f"refit {every}; {self.at_once} visitor(s) at once"


def simulate(world: World, seed: int, visitors: int, cadence: Cadence, params: PolicyParams,
             counted_per_day: int = COUNTED_IMPRESSIONS_PER_DAY) -> Run:
    arms = len(world.keys)  # the styles, and the original where it is an arm
    styles_table = EmbeddingTable(dict(zip(world.keys, world.style_vectors)))
    preferences = [view_preference(styles_table, v, params.temperature) for v in world.product_vectors]
    index = {key: i for i, key in enumerate(world.keys)}
    truths = np.zeros((visitors, IMPRESSIONS, arms))
    readies = np.zeros((visitors, IMPRESSIONS, arms), dtype=bool)
    policy = np.zeros(visitors)
    control, counted, original = np.zeros(visitors, dtype=bool), np.zeros(visitors), np.zeros(visitors)
    stats: Dict[str, List[float]] = {key: [0.0] * 5 for key in world.keys}
    by_category = {str(c): {key: [0.0] * 5 for key in world.keys} for c in range(CATEGORIES)}
    model = fit_global({}, params)
    # Per product and style, the impressions and clicks of its viewers (the visitors
    # who had viewed it, among their last MAX_RECENT_VIEWS), counted as the shop's
    # ViewerDailyStats; read as of the last refit, as a process's cache holds them.
    look_counts = np.zeros((world.products, 2, STYLES))
    looks = look_counts.copy()
    reasons: Dict[str, int] = {}
    logs: List[Logged] = []
    clicks = 0

    def visit(v: int):
        """One visitor's views, yielding after each impression so that visitors can
        shop at once."""
        nonlocal clicks
        # The views are drawn up front: the visitors are then the same whatever the
        # number shopping at once.
        base, view, views = world.visitor()
        plan = [view(t) for t in range(views)]
        state, shown, seen = VisitorState(), {}, 0
        recent: Deque[int] = deque(maxlen=MAX_RECENT_VIEWS)
        for t, (product, taste) in enumerate(plan):
            # The shop keeps the state between requests as stored (two decimals).
            state = VisitorState.from_dict(state.to_dict())
            truth = world.truth(base, taste)
            if t < IMPRESSIONS:  # a crawler's later views count for nothing either way
                truths[v, t], readies[v, t] = truth, world.ready[product]
            keys = [world.keys[s] for s in world.available[product]]
            category = str(world.category[product])
            # The product page's view counts before its image is chosen, as the shop's
            # does (events.expect_view; a headless storefront posts the view first). A
            # product among the visitor's MAX_RECENT_VIEWS latest views (all within
            # events.VIEW_REPEAT_SECONDS: 30 min, longer than a simulated visit) is a
            # refresh, not a new view; one that has left them counts again.
            if product not in recent:
                viewers = {key: (looks[product, 0, i], looks[product, 1, i])
                           for i, key in enumerate(world.keys[:STYLES])}
                state.record_view(learned_view_preference(preferences[product], viewers, model, params), params)
                recent.append(product)
            # One epoch per visit: the shop's is the UTC day (identity.current_epoch), and a
            # simulated visit is one day's.
            choice = choose(state, keys, model.within(category), params, visitor=f"v{seed}-{v}",
                            epoch=0, remembered=shown.get(product))
            if choice.style is not None and choice.reason not in NOT_DRAWN:
                shown[product] = Remembered(choice.style, choice.propensity, tuple(keys))
            original[v] += world.original_truth(base)
            if choice.reason == "control":
                p_click = world.original_truth(base)
                control[v] = True
            else:
                p_click = float(truth[index[choice.style]])
            clicked = world.outcomes.random() < p_click
            policy[v] += p_click
            counted[v] += clicked
            clicks += clicked
            reasons[choice.reason] = reasons.get(choice.reason, 0) + 1
            logs.append(Logged(product, choice.style, choice.propensity, float(clicked), cluster=v))
            seen += choice.style is not None
            # The control group's impressions are no style's evidence; nor are a visitor's
            # beyond the day's allowance, nor their outcomes (events._Allowance).
            if choice.style is not None and seen <= counted_per_day:
                if choice.style != ORIGINAL_ARM and choice.reason != "pick":
                    credited = list(recent)
                    look_counts[credited, 0, index[choice.style]] += 1
                    look_counts[credited, 1, index[choice.style]] += clicked
                q = choice.history_share
                for row in (stats[choice.style], by_category[category][choice.style]):
                    row[0] += 1
                    row[1] += clicked
                    row[2] += q
                    row[3] += q * q
                    row[4] += q * clicked
            state.record_impression(choice, params)
            if clicked and choice.style is not None:
                state.record_click(choice.style, params)
                if world.outcomes.random() < CART_RATE:
                    state.record_add_to_cart(choice.style, params)
            yield

    shopping: Deque = deque()
    started = since_refit = fitted = 0
    due = False
    while started < visitors or shopping:
        while len(shopping) < cadence.at_once and started < visitors:
            due |= started % cadence.visitors == 0 and started > 0
            shopping.append(visit(started))
            started += 1
        grown = cadence.share and since_refit >= max(cadence.least, cadence.share * fitted)
        if due or grown or 0 < cadence.impressions <= since_refit:
            model = fit_global({k: StyleStats(*row) for k, row in stats.items()}, params,
                               {c: {k: StyleStats(*row) for k, row in cells.items()}
                                for c, cells in by_category.items()})
            if due:  # a product's viewers keep the full period (population.per_refit)
                looks = look_counts.copy()
            due, since_refit, fitted = False, 0, sum(row[0] for row in stats.values())
        visitor = shopping.popleft()
        if next(visitor, StopIteration) is not StopIteration:  # one more impression; else the visit is over
            shopping.append(visitor)
            since_refit += 1

    return Run(baselines(truths, readies, policy, seed), control, counted, original, clicks, reasons, logs,
               model.history_weight)


def baselines(truths: np.ndarray, readies: np.ndarray, policy: np.ndarray, seed: int) -> Dict[str, np.ndarray]:
    """Per visitor, the true CTR sums of the policy (``policy``, as shown) and of every
    baseline (``ARMS``) on the same impressions: ``truths`` and ``readies`` are visitors
    x impressions x arms."""
    # Best single: the styles ranked by their true CTR where ready; each impression shows
    # the best-ranked ready one.
    arms = truths.shape[2]
    per_style = (truths * readies).sum(axis=(0, 1)) / readies.sum(axis=(0, 1))
    rank = np.empty(arms, dtype=int)
    rank[np.argsort(-per_style, kind="stable")] = np.arange(arms)
    best = np.argmin(np.where(readies, rank, arms), axis=2)
    return {
        "policy": policy,
        "oracle": np.where(readies, truths, 0.0).max(axis=2).sum(axis=1),
        "best_single": np.take_along_axis(truths, best[..., None], axis=2)[..., 0].sum(axis=1),
        "random": ((truths * readies).sum(axis=2) / readies.sum(axis=2)).sum(axis=1),
        "learner": single_style_learner(truths, readies, seed),
    }


def single_style_learner(truths: np.ndarray, readies: np.ndarray, seed: int) -> np.ndarray:
    """Per visitor, the true CTR sum of a reference learner of the best single style on
    the same impressions: Thompson sampling over the arms, updated after every
    impression (the policy refits at its ``Cadence`` and keeps a visitor's
    look), with no exploration floor and no personalization. It shows what finding the
    best single style costs in a new shop, which the "best single" baseline, chosen
    with hindsight, does not pay."""
    rng = np.random.default_rng([seed, len(ARMS)])
    visitors, impressions, arms = truths.shape
    clicks, shown = np.zeros(arms), np.zeros(arms)
    sums = np.zeros(visitors)
    prior_failures = 1.0 / FALLBACK_CTR - 1.0  # Beta(1, .) with the policy's prior mean
    for v in range(visitors):
        for t in range(impressions):
            draws = rng.beta(1.0 + clicks, prior_failures + shown - clicks)
            arm = int(np.argmax(np.where(readies[v, t], draws, -1.0)))
            p = truths[v, t, arm]
            sums[v] += p
            clicks[arm] += rng.random() < p
            shown[arm] += 1
    return sums


def ratio(a: np.ndarray, b: np.ndarray) -> Tuple[float, float, float]:
    """sum(a) / sum(b) over units (runs) with its 95 % delta-method interval, t-quantile
    with one degree of freedom fewer than the units."""
    r = a.sum() / b.sum()
    units = len(a)
    if units < 2:  # one run: no spread to estimate
        return float(r), float("nan"), float("nan")
    z = a - r * b
    se = np.sqrt(units * z.var(ddof=1)) / b.sum()
    half = t_quantile(units - 1) * se
    return float(r), float(r - half), float(r + half)


def run_phases(cold: int, visitors: int):
    """The reported phases, (name, slice of a run's visitors): the cold start, then the
    measured visitors when there are any."""
    return (("cold start", slice(0, cold)), ("measured", slice(cold, None)))[:2 if visitors else 1]


def report(kind: str, runs: List[Run], phases) -> int:
    """Print one world's lines: per phase (name, slice of visitors), the policy's CTR
    against every baseline with 95 % intervals over the runs. Returns how many phases
    missed the world's target."""
    target = 1.10 if kind in TASTE_WORLDS else 0.97
    reasons: Dict[str, int] = {}
    for run in runs:
        for key, n in run.reasons.items():
            reasons[key] = reasons.get(key, 0) + n
    total = sum(reasons.values())
    mix = ", ".join(f"{k} {n / total:.0%}" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    weights = " ".join(f"{run.history_weight:.2f}" for run in runs)
    print(f"\n  {kind}  (target >= {target:.2f} x best single; fitted history weight {weights}; {mix})")
    failures = 0
    for phase, part in phases:
        # One unit per run: a run's learning path moves its figures more than its
        # visitors do, and an interval over visitors would not show it.
        totals = {arm: np.array([run.sums[arm][part].sum() for run in runs]) for arm in ARMS}
        ctr = totals["policy"].sum() / (sum(len(run.sums["policy"][part]) for run in runs) * IMPRESSIONS)
        cells = []
        for baseline in ("oracle", "best_single", "random"):
            r, low, high = ratio(totals["policy"], totals[baseline])
            cells.append(f"vs {baseline} {r:.3f} [{low:.3f}, {high:.3f}]")
            if baseline == "best_single":
                ok = r >= target
                failures += not ok
                verdict = "PASS" if ok else "FAIL"
        r, low, high = ratio(totals["learner"], totals["best_single"])
        cells.append(f"(learner vs best_single {r:.3f} [{low:.3f}, {high:.3f}])")
        print(f"    {verdict}  {phase:10} CTR {ctr:.4f}  " + "  ".join(cells))
    return failures


def replay_check(world: World, run: Run, cold: int) -> Tuple[int, bool]:
    """Replay the measured phase's logs for the random-style baseline, whose true CTR on
    these contexts is known: how many of the IPW and SNIPW intervals hold it, and
    whether the policy's relative lift over it (the analytics page's estimator) holds
    the true lift."""
    logs = [entry for entry in run.logs if entry.cluster >= cold]
    truth = run.sums["random"][cold:].sum() / (len(logs))
    target = lambda product, action: 1.0 / len(world.available[product])  # noqa: E731
    inside = sum(truth in estimator(logs, target) for estimator in (ipw, snipw))
    lift = run.sums["policy"][cold:].sum() / run.sums["random"][cold:].sum()
    return inside, lift in logged_over_target(logs, target)


def measure(job) -> Tuple[Run, Tuple[int, bool]]:
    """One world and seed: the run (without its logs, which stay in the worker) and its
    replay (:func:`replay_check`)."""
    kind, seed, visitors, cold, cadence, params, counted_per_day, late_best, products = job
    world = World(kind, seed, products, late_best_after=cold if late_best else None)
    run = simulate(world, seed, visitors, cadence, params, counted_per_day)
    return dataclasses.replace(run, logs=[]), replay_check(world, run, cold) if visitors > cold else (0, False)


def control_lift(job) -> Tuple[float, object]:
    """One control-group run: its true styled-vs-original lift and the page's estimate
    (None while no control visitor has clicked)."""
    seed, visitors, cadence, params = job
    world = World(CONTROL_WORLDS[seed % len(CONTROL_WORLDS)], seed)
    run = simulate(world, seed, visitors, cadence, params)
    styled, control = ~run.control, run.control
    impressions = np.full(visitors, IMPRESSIONS)
    truth = (run.sums["policy"][styled].sum() / (IMPRESSIONS * styled.sum())) / (
        run.original.sum() / (IMPRESSIONS * visitors)) - 1
    estimate = relative_lift(clustered_rate(run.counted[styled], impressions[styled]),
                             clustered_rate(run.counted[control], impressions[control]), visitors)
    return truth, estimate


def control_coverage(runs: int, visitors: int, cadence: Cadence, params: PolicyParams, jobs: int) -> Tuple[str, bool]:
    """Whether the analytics page's styled-vs-original interval holds each run's truth:
    a line to print, and whether at least 95 % did."""
    params = dataclasses.replace(params, control_share=CONTROL_SHARE)
    with multiprocessing.Pool(jobs) as pool:
        results = pool.map(control_lift, [(seed, visitors, cadence, params) for seed in range(1, runs + 1)],
                           chunksize=1)
    shown = [(truth, estimate) for truth, estimate in results if estimate is not None]
    covered = sum(estimate.low <= truth <= estimate.high for truth, estimate in shown)
    widths = [estimate.high - estimate.low for _truth, estimate in shown]
    lifts = [truth for truth, _estimate in shown]
    held = len(widths)
    return (f"  styled vs original ({CONTROL_SHARE:.0%} control group, {visitors} visitors a run, {runs} runs over "
            f"the worlds): the 95 % interval held the true lift in {covered}/{held} ({covered / max(held, 1):.1%}; "
            f"target >= 95 %); {runs - held} runs had no click in the control group to show one; true lifts "
            f"{min(lifts):+.1%} .. {max(lifts):+.1%}, mean interval width {np.mean(widths):.1%}",
            covered >= 0.95 * held)


def latency(params: PolicyParams, calls: int) -> List[str]:
    """p50/p99 of one choose() call with a full visitor state, for 10/20/30 styles; every
    other call lacks the sticky style, so half take the Thompson-sampling path."""
    rng = np.random.default_rng(7)
    lines = []
    for count in (10, 20, 30):
        keys = [str(1000 + i) for i in range(count)]
        stats = {k: StyleStats(1000.0, float(rng.integers(20, 80)), 200.0, 80.0, 15.0) for k in keys}
        model = fit_global(stats, params)
        table = EmbeddingTable({k: rng.normal(size=DIM) for k in keys})
        state = VisitorState()
        for _ in range(40):
            state.record_view(view_preference(table, rng.normal(size=DIM), params.temperature), params)
        for key in keys[:3]:
            state.record_impression(choose(state, [key], model, params, visitor="x", epoch=0), params)
            state.record_click(key, params)
        timings = np.empty(calls)
        for i in range(calls):
            available = keys if i % 2 else keys[1:]
            start = time.perf_counter_ns()
            choose(state, available, model, params, visitor="visitor-123456", epoch=i)
            timings[i] = time.perf_counter_ns() - start
        p50, p99 = np.percentile(timings, [50, 99]) / 1000
        lines.append(f"    {count:2} styles: p50 {p50:6.1f} us   p99 {p99:6.1f} us   ({calls} calls)")
    return lines


def _override(params: PolicyParams, assignments: List[str]) -> PolicyParams:
    changes = {}
    for item in assignments:
        name, _, value = item.partition("=")
        changes[name] = type(getattr(params, name))(value)
    return dataclasses.replace(params, **changes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tuning", action="store_true", help=f"use the tuning seeds {TUNING_SEEDS}")
    parser.add_argument("--seeds", type=int, nargs="+", help=f"default: evaluation seeds {EVALUATION_SEEDS}")
    parser.add_argument("--worlds", nargs="+", choices=WORLDS, default=list(WORLDS))
    parser.add_argument("--cold", type=int, default=1000, help="cold-start visitors of an empty shop (default 1000)")
    parser.add_argument("--visitors", type=int, default=2000, help="measured visitors after the cold start (default 2000)")
    parser.add_argument("--refit-every", type=int, default=Cadence.visitors,
                        help=f"visitors between refits of the population model (default {Cadence.visitors})")
    parser.add_argument("--refit-impressions", type=int, default=Cadence.impressions,
                        help="also refit after this many impressions of all visitors (default: never)")
    parser.add_argument("--refit-share", type=float, default=Cadence.share,
                        help="also refit once the impressions since the last refit reach this share of those counted")
    parser.add_argument("--refit-least", type=int, default=Cadence.least,
                        help=f"fewest impressions between refits by --refit-share (default {Cadence.least})")
    parser.add_argument("--at-once", type=int, default=Cadence.at_once,
                        help=f"visitors shopping at once, an impression each in turn (default {Cadence.at_once})")
    parser.add_argument("--counted-per-day", type=int, default=COUNTED_IMPRESSIONS_PER_DAY,
                        help="a visitor's impressions that count for the population's counters (default "
                             f"{COUNTED_IMPRESSIONS_PER_DAY}, the setting's; 0 or less: all)")
    parser.add_argument("--late-best", action="store_true",
                        help="hold each world's most appealing style back until the cold start is over, as a style "
                             "an admin adds to a running shop: the measured phase shows how soon the policy adopts it")
    parser.add_argument("--products", type=int, default=PRODUCTS,
                        help=f"products in each world's catalogue (default {PRODUCTS}); in a small one a visitor views "
                             "the same products again, in the looks they were first shown in")
    parser.add_argument("--latency", action="store_true", help="also time choose()")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="runs simulated at once (default: the cores)")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="override PolicyParams fields")
    parser.add_argument("--control-coverage", type=int, metavar="N",
                        help="instead: check the styled-vs-original interval over N runs of --cold visitors")
    args = parser.parse_args(argv)
    seeds = args.seeds or list(TUNING_SEEDS if args.tuning else EVALUATION_SEEDS)
    if args.counted_per_day <= 0:
        args.counted_per_day = sys.maxsize
    params = _override(PolicyParams(), args.set)
    cadence = Cadence(args.refit_every, args.refit_impressions, args.at_once, args.refit_share, args.refit_least)
    started = time.perf_counter()
    if args.control_coverage:
        line, ok = control_coverage(args.control_coverage, args.cold, cadence, params, args.jobs)
        print(f"{line}\n\n  {time.perf_counter() - started:.0f} s")
        return 0 if ok else 1
    print(f"personalization simulation: seeds {seeds}; per world and seed {args.cold} cold-start visitors of an "
          f"empty shop, then {args.visitors} measured; {IMPRESSIONS} views each of {args.products} products; "
          f"{STYLES} styles; {cadence}{LATE_BEST_NOTE if args.late_best else ''}\n  {params}")
    phases = run_phases(args.cold, args.visitors)
    failures = covered = checked = lifts = 0
    jobs = [(kind, seed, args.cold + args.visitors, args.cold, cadence, params, args.counted_per_day, args.late_best,
             args.products)
            for kind in args.worlds for seed in seeds]
    with multiprocessing.Pool(args.jobs) as pool:
        # One run at a time: in chunks, the last (a world's heaviest runs, bots') was left
        # to one core while the other idled.
        results = pool.map(measure, jobs, chunksize=1)
    by_world: Dict[str, List[Run]] = {kind: [] for kind in args.worlds}
    for (kind, *_rest), (run, (inside, lift_inside)) in zip(jobs, results):
        by_world[kind].append(run)
        covered, checked, lifts = covered + inside, checked + 2 * (args.visitors > 0), lifts + lift_inside
    for kind, runs in by_world.items():
        failures += report(kind, runs, phases)
    if checked:
        print(f"\n  IPW / SNIPW replay of the random style on the measured logs: truth inside the 95 % interval "
              f"{covered}/{checked}; the policy's relative lift over it (Fieller): {lifts}/{checked // 2}")
    if args.latency:
        print("\n  choose() latency:\n" + "\n".join(latency(params, 20_000)))
    print(f"\n  {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
