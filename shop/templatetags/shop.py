"""The demo shop's template filters."""
from babel.numbers import format_currency
from django import template
from django.conf import settings
from django.utils.translation import get_language, to_locale

register = template.Library()


@register.filter
def price(amount):
    """``amount`` in ``SHOP_CURRENCY``, written the way the page's language writes money
    (CLDR, through Babel): "$1,250.00", "1 250,00 $US", "US$1,250.00"."""
    return format_currency(amount, settings.SHOP_CURRENCY, locale=to_locale(get_language() or settings.LANGUAGE_CODE))
