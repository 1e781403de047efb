"""The analytics report as a page shows it: the numbers of ``analytics``, the charts of
``charts``, and the words around them, for one time window. The admin's analytics page
and Oscar's dashboard page render the same context with the same template
(``stylestore/includes/analytics_report.html``), each in its own layout, and answer
``?table=...&format=csv`` with one of its tables as CSV (``csv_response``), behind the
same permission as the page."""
import csv
import math
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import moments
from ..conf import stylestore_settings
from . import analytics, charts

#: Windows the report offers as quick links, in days.
WINDOWS = (7, 30, 90)
#: The window when the request names none (or an invalid one).
DEFAULT_DAYS = 30
#: What the configured reward (``STYLESTORE["REWARD"]``) is called in the report.
OUTCOME_NAMES = {"click": gettext_lazy("clicks"), "add_to_cart": gettext_lazy("add to carts"),
                 "purchase": gettext_lazy("purchases")}


class RangeForm(forms.Form):
    """A date range (whole days of ``moments.zone()``, both ends included) within the event retention."""

    start = forms.DateField(label=gettext_lazy("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if self.errors or (start is None and end is None):
            return data
        if start is None or end is None:
            raise forms.ValidationError(_("Enter both dates of the range, or neither."))
        today = analytics.today_start().date()
        first = today - timedelta(days=stylestore_settings.EVENT_RETENTION_DAYS - 1)
        if start > end:
            raise forms.ValidationError(_("The range must start on or before its end."))
        if start < first:
            raise forms.ValidationError(
                _("Events are kept for %(days)d days: the range cannot start before %(first)s.")
                % {"days": stylestore_settings.EVENT_RETENTION_DAYS, "first": first.isoformat()})
        if end > today:
            raise forms.ValidationError(_("The range cannot end after today (%(today)s, %(zone)s).")
                                        % {"today": today.isoformat(), "zone": moments.zone()})
        return data


@dataclass(frozen=True)
class Window:
    """The report's window ``[since, until)``; ``days`` when it is a quick link."""

    since: object
    until: object
    days: int | None
    form: RangeForm


def window(params) -> Window:
    """The window a request's query names: ``start`` and ``end`` dates (validated: the
    form's errors are shown, and the default window used), else ``?days=`` (a quick
    link within the retention; anything else falls back to 30 days, or the longest kept)."""
    form = RangeForm(params if params.get("start") or params.get("end") else None)
    if form.is_bound and form.is_valid():
        since, end = (moments.midnight(form.cleaned_data[name]) for name in ("start", "end"))
        return Window(since, end + timedelta(days=1), None, form)
    windows = quick_windows()
    try:
        days = int(params.get("days") or DEFAULT_DAYS) if not form.is_bound else DEFAULT_DAYS
    except ValueError:
        days = DEFAULT_DAYS
    days = days if days in windows else windows[min(1, len(windows) - 1)]
    return Window(analytics.window_start(days), analytics.window_end(), days, form)


def quick_windows():
    return [d for d in WINDOWS if d <= stylestore_settings.EVENT_RETENTION_DAYS] or [
        stylestore_settings.EVENT_RETENTION_DAYS
    ]


@dataclass(frozen=True)
class Figures:
    """The report's numbers for one window, before any words: what the page shows and
    the API (``GET v1/analytics/``) returns."""

    styles: list
    categories: list
    control: object  # analytics.Control | None
    lift: object  # analytics.Lift | None


def figures(span: Window) -> Figures:
    since, until = span.since, span.until
    return Figures(analytics.style_rows(since, until), analytics.category_rows(since, until),
                   analytics.styled_vs_original(since, until), analytics.lift(since, until))


def context(params) -> dict:
    """The report's template context for a request's query (``request.GET``)."""
    span = window(params)
    since, until = span.since, span.until
    numbers = figures(span)
    rows, lift, control, categories = numbers.styles, numbers.lift, numbers.control, numbers.categories
    reward = OUTCOME_NAMES[stylestore_settings.REWARD]
    policies = None
    if lift is not None:
        policies = charts.chart(
            [
                (_("Personalized (measured)"), lift.personalized),
                (_("Best single style (IPW)"), lift.baseline_ipw),
                (_("Best single style (SNIPW)"), lift.baseline_snipw),
            ]
        )
    headlines = control_headlines(control)
    query = {"start": since.date().isoformat(), "end": (until - timedelta(days=1)).date().isoformat()}
    return {
        "days": span.days,
        "windows": quick_windows(),
        "since": since,
        "last_day": until - timedelta(days=1),
        "zone": moments.zone(),
        "range_form": span.form,
        "reward": reward,
        "csv_query": "&".join(f"{key}={value}" for key, value in query.items()),
        "other_currencies": control.currencies[1:] if control is not None else (),
        "counted_per_day": stylestore_settings.COUNTED_IMPRESSIONS_PER_DAY,
        "rows": [{"row": row, "ctr": percent(row.ctr.value), "interval": interval(row.ctr, digits=2),
                  "revenue": money(row.revenue)} for row in rows],
        "categories": [
            {"row": row, "label": row.category or _("Uncategorised"), "rate": percent(row.rate.value),
             "interval": interval(row.rate), "revenue": money(row.revenue)}
            for row in categories
        ],
        "control": control,
        "headline": headlines[0],
        "control_headlines": headlines[1:],
        "control_groups": control_groups(control),
        "lift": lift,
        "lift_figures": lift_figures(lift) if lift is not None else [],
        "styles_chart": charts.chart([(row.style.name, row.ctr) for row in rows]),
        "policies_chart": policies,
    }


def percent(value, digits=2, signed=False, unit="%"):
    return f"{value * 100:{'+' if signed else ''}.{digits}f} {unit}"


def amount(value, digits=2, currency=""):
    # A no-break space: a narrow column wraps between amounts, never inside one.
    return f"{value:,.{digits}f}" + (f"\N{NO-BREAK SPACE}{currency}" if currency else "")


def money(revenue):
    """A ``analytics.Revenue``, one amount per currency: "1,250.00 USD · 80.00 EUR"."""
    return " · ".join(amount(value, currency=currency) for currency, value in revenue.items()) or amount(0)


def interval(estimate, digits=2, signed=False, unit="%"):
    if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return _("unbounded: needs impressions from more visitors")
    return _("%(low)s to %(high)s") % {"low": percent(estimate.low, digits, signed, unit),
                                        "high": percent(estimate.high, digits, signed, unit)}


def amount_interval(estimate, digits=2, currency=""):
    """The interval of an amount per visitor (purchases, revenue)."""
    if not math.isfinite(estimate.high):
        return _("unbounded: needs purchases from more visitors")
    return _("%(low)s to %(high)s") % {"low": amount(estimate.low, digits, currency),
                                        "high": amount(estimate.high, digits, currency)}


def control_headlines(control):
    """What styling does against the original photos, in plain sentences: the one about
    the configured reward (``STYLESTORE["REWARD"]``) first, the page's headline."""
    if control is None:
        if stylestore_settings.CONTROL_SHARE:
            return [_("No visitor of the control group in this window yet.")]
        return [_('No control group: set STYLESTORE["CONTROL_SHARE"] (e.g. 0.10) and that share of visitors sees '
                  "the original photos, so styled images can be measured against them.")]
    visitors = control.styled.visitors + control.original.visitors
    outcomes = [("click", control.clicks_lift, False), ("add_to_cart", control.add_to_carts_lift, False),
                ("purchase", control.purchases_lift, True)]
    outcomes.sort(key=lambda outcome: outcome[0] != stylestore_settings.REWARD)
    sentences = []
    for outcome, lift, per_visitor in [*outcomes, ("revenue", control.revenue_lift, True)]:
        name = OUTCOME_NAMES.get(outcome) or _("revenue")
        if lift is None:
            sentences.append(
                _("Styled images and %(outcome)s: not enough data yet (%(styled)d visitors saw styled images, "
                  "%(original)d the original photos; a lift needs %(outcome)s among those who saw the original "
                  "photos).")
                % {"outcome": name, "styled": control.styled.visitors, "original": control.original.visitors}
            )
            continue
        values = {"value": percent(lift.value, 0, signed=True), "outcome": name,
                  "interval": interval(lift, 0, signed=True), "visitors": visitors,
                  "original": control.original.visitors}
        if per_visitor:
            sentence = _("Styled images: %(value)s %(outcome)s per visitor versus the original photos "
                         "(95 %% interval %(interval)s), from %(visitors)d visitors, %(original)d of whom saw "
                         "the original photos.") % values
        else:
            sentence = _("Styled images: %(value)s %(outcome)s per impression versus the original photos "
                         "(95 %% interval %(interval)s), from %(visitors)d visitors, %(original)d of whom saw "
                         "the original photos.") % values
        # A point estimate whose interval spans no difference reads as a finding; say it is not one yet.
        if lift.low <= 0 <= lift.high:
            sentence += " " + _("Not enough data yet to tell them apart: the interval includes no difference.")
        sentences.append(sentence)
    return sentences


def control_groups(control):
    """The two groups' rows: visitors, impressions, and each outcome's rate with its interval."""
    if control is None:
        return []
    return [
        {
            "label": label,
            "visitors": arm.visitors,
            "impressions": arm.impressions,
            "clicks": percent(arm.clicks.value),
            "clicks_interval": interval(arm.clicks),
            "add_to_carts": percent(arm.add_to_carts.value),
            "add_to_carts_interval": interval(arm.add_to_carts),
            "purchases": amount(arm.purchases.value, 3),
            "purchases_interval": amount_interval(arm.purchases, 3),
            "revenue": amount(arm.revenue.value, currency=control.currency),
            "revenue_interval": amount_interval(arm.revenue, currency=control.currency),
        }
        for label, arm in ((_("Styled images"), control.styled), (_("Original photos (control group)"), control.original))
    ]


def lift_figures(lift):
    """The comparison's rows: label, estimate, 95 % interval, how it was obtained."""
    rows = [
        (_("Personalized policy rate"), lift.personalized, "%", False, _("measured on these impressions")),
        (_("Best single style (IPW)"), lift.baseline_ipw, "%", False, _("IPW estimate from the same impressions")),
        (_("Best single style (SNIPW)"), lift.baseline_snipw, "%", False,
         _("self-normalised IPW (lower variance, slight bias)")),
        (_("Lift, absolute"), lift.absolute, "pp", True, _("paired IPW difference, in percentage points")),
        (_("Lift, relative"), lift.relative, "%", True,
         _("ratio of the two, Fieller interval (it tests no difference as the absolute lift does)")),
    ]
    return [
        {
            "label": label,
            "value": percent(e.value, signed=signed, unit=unit),
            "interval": interval(e, signed=signed, unit=unit),
            "method": how,
        }
        for label, e, unit, signed, how in rows
        if e is not None
    ]


# ---------------------------------------------------------------------- CSV

#: The tables a CSV export can hold, by their ``?table=`` name.
CSV_TABLES = ("styles", "categories", "groups")


def csv_response(params):
    """One of the report's tables (``?table=``: ``CSV_TABLES``) for the query's window,
    as a CSV download: plain numbers (rates as fractions, intervals as two columns),
    so a spreadsheet can compute with them; revenue in a column per currency of the
    window's purchases (``revenue_USD``...), or, per visitor, with a column naming its
    currency. None for an unknown table."""
    table = params.get("table")
    if table not in CSV_TABLES:
        return None
    span = window(params)
    since, until = span.since, span.until
    last_day = (until - timedelta(days=1)).date()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="stylestore-{table}-{since.date().isoformat()}-{last_day.isoformat()}.csv"')
    writer = csv.writer(response)
    if table == "styles":
        rows = analytics.style_rows(since, until)
        currencies = _row_currencies(rows)
        writer.writerow(["style", "impressions", "clicks", "ctr", "ctr_low", "ctr_high", "add_to_carts", "purchases",
                         *_revenue_columns(currencies), "picks"])
        for row in rows:
            writer.writerow([row.style.name, row.impressions, row.clicks, _fraction(row.ctr.value),
                             _fraction(row.ctr.low), _fraction(row.ctr.high), row.add_to_carts, row.purchases,
                             *(_money_cell(row.revenue.get(c, 0)) for c in currencies), row.picks])
    elif table == "categories":
        reward = stylestore_settings.REWARD
        rows = analytics.category_rows(since, until)
        currencies = _row_currencies(rows)
        writer.writerow(["category", "impressions", "clicks", "add_to_carts", "purchases",
                         *_revenue_columns(currencies), f"{reward}_rate", f"{reward}_rate_low", f"{reward}_rate_high"])
        for row in rows:
            writer.writerow([row.category or "", row.impressions, row.clicks, row.add_to_carts, row.purchases,
                             *(_money_cell(row.revenue.get(c, 0)) for c in currencies), _fraction(row.rate.value),
                             _fraction(row.rate.low), _fraction(row.rate.high)])
    else:
        control = analytics.styled_vs_original(since, until)
        columns = ["clicks_per_impression", "add_to_carts_per_impression", "purchases_per_visitor",
                   "revenue_per_visitor"]
        writer.writerow(["group", "visitors", "impressions",
                         *(f"{name}{end}" for name in columns for end in ("", "_low", "_high")), "revenue_currency"])
        for name, arm in (("styled", control.styled), ("original", control.original)) if control else ():
            estimates = (arm.clicks, arm.add_to_carts, arm.purchases, arm.revenue)
            writer.writerow([name, arm.visitors, arm.impressions,
                             *(_fraction(x) for e in estimates for x in (e.value, e.low, e.high)),
                             control.currency or ""])
    return response


def _row_currencies(rows):
    """The currencies of the rows' revenue, in code order: a CSV column each."""
    return sorted({currency for row in rows for currency in row.revenue})


def _revenue_columns(currencies):
    # Revenue of unknown currency (counted before revenue was per currency): plain "revenue".
    return [f"revenue_{currency}" if currency else "revenue" for currency in currencies]


def _money_cell(value):
    """An amount for CSV: the purchases' four decimal places, alike on every database."""
    return f"{value:.4f}"


def _fraction(value):
    """A number for CSV: six decimals; an unbounded end stays empty."""
    return f"{value:.6f}" if math.isfinite(value) else ""
