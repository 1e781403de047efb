"""The analytics report as a page shows it: the numbers of ``analytics``, the charts of
``charts``, and the words around them, for one time window. The admin's analytics page
and Oscar's dashboard page render the same context with the same template
(``stylestore/includes/analytics_report.html``), each in its own layout."""
import math

from django.utils.translation import gettext as _

from ..conf import stylestore_settings
from . import analytics, charts

#: Windows the report offers, in days.
WINDOWS = (7, 30, 90)


def context(days_param) -> dict:
    """The report's template context for ``?days=`` (a window within the event
    retention; anything else falls back to 30 days, or the longest kept)."""
    windows = [d for d in WINDOWS if d <= stylestore_settings.EVENT_RETENTION_DAYS] or [
        stylestore_settings.EVENT_RETENTION_DAYS
    ]
    try:
        days = int(days_param or 30)
    except ValueError:
        days = 30
    days = days if days in windows else windows[min(1, len(windows) - 1)]
    since = analytics.window_start(days)
    rows = analytics.style_rows(since)
    lift = analytics.lift(since)
    control = analytics.styled_vs_original(since)
    policies = None
    if lift is not None:
        policies = charts.chart(
            [
                (_("Personalized (measured)"), lift.personalized),
                (_("Best single style (IPW)"), lift.baseline_ipw),
                (_("Best single style (SNIPW)"), lift.baseline_snipw),
            ]
        )
    return {
        "days": days,
        "windows": windows,
        "since": since,
        "rows": [{"row": row, "ctr": percent(row.ctr.value), "interval": interval(row.ctr, digits=2)} for row in rows],
        "control": control,
        "control_headlines": control_headlines(control),
        "control_groups": control_groups(control),
        "lift": lift,
        "lift_figures": lift_figures(lift) if lift is not None else [],
        "styles_chart": charts.chart([(row.style.name, row.ctr) for row in rows]),
        "policies_chart": policies,
    }


def percent(value, digits=2, signed=False, unit="%"):
    return f"{value * 100:{'+' if signed else ''}.{digits}f} {unit}"


def interval(estimate, digits=2, signed=False, unit="%"):
    if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return _("unbounded: needs impressions from more visitors")
    return _("%(low)s to %(high)s") % {"low": percent(estimate.low, digits, signed, unit),
                                        "high": percent(estimate.high, digits, signed, unit)}


def control_headlines(control):
    """What styling does against the original photos, in plain sentences."""
    if control is None:
        if stylestore_settings.CONTROL_SHARE:
            return [_("No visitor of the control group in this window yet.")]
        return [_('No control group: set STYLESTORE["CONTROL_SHARE"] (e.g. 0.10) and that share of visitors sees '
                  "the original photos, so styled images can be measured against them.")]
    visitors = control.styled.visitors + control.original.visitors
    sentences = []
    for outcome, lift in ((_("clicks"), control.clicks_lift), (_("add to carts"), control.add_to_carts_lift)):
        if lift is None:
            sentences.append(
                _("Styled images and %(outcome)s: not enough data yet (%(styled)d visitors saw styled images, "
                  "%(original)d the original photos; an interval needs at least %(minimum)d visitors with %(outcome)s "
                  "in each group).")
                % {"outcome": outcome, "styled": control.styled.visitors, "original": control.original.visitors,
                   "minimum": analytics.evaluation.MIN_CLICKING_VISITORS}
            )
        else:
            sentences.append(
                _("Styled images: %(value)s %(outcome)s per impression versus the original photos "
                  "(95 %% interval %(interval)s), from %(visitors)d visitors, %(original)d of whom saw the "
                  "original photos.")
                % {"value": percent(lift.value, 0, signed=True), "outcome": outcome,
                   "interval": interval(lift, 0, signed=True), "visitors": visitors,
                   "original": control.original.visitors}
            )
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
        }
        for label, arm in ((_("Styled images"), control.styled), (_("Original photos (control group)"), control.original))
    ]


def lift_figures(lift):
    """The comparison's rows: label, estimate, 95 % interval, how it was obtained."""
    rows = [
        (_("Personalized policy CTR"), lift.personalized, "%", False, _("measured on these impressions")),
        (_("Best single style CTR"), lift.baseline_ipw, "%", False, _("IPW estimate from the same impressions")),
        (_("Best single style CTR"), lift.baseline_snipw, "%", False,
         _("self-normalised IPW (lower variance, slight bias)")),
        (_("Lift, absolute"), lift.absolute, "pp", True, _("paired IPW difference, in percentage points")),
        (_("Lift, relative"), lift.relative, "%", True, _("ratio of the two, delta-method interval")),
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
