"""Stylestore for django-oscar shops: add ``"stylestore.contrib.oscar"`` to
``INSTALLED_APPS`` *before* Oscar's apps (its templates override Oscar's product card,
gallery and product page), and list Oscar's product images as a source::

    STYLESTORE = {
        "SOURCE_MODELS": {
            "catalogue.ProductImage": {
                "fields": ["original"],
                "public": {"product__is_public": True},  # unpublished products stay unseen
                "group": "product",  # "more in this style" ranks products, never the product's own
            },
        },
    }
    # Stylestore's pages in Oscar's dashboard menu (with "stylestore.contrib.oscar.dashboard"
    # installed beside this app, and its URLs included: see that package):
    from stylestore.contrib.oscar.navigation import DASHBOARD_NAVIGATION
    OSCAR_DASHBOARD_NAVIGATION = [*OSCAR_DASHBOARD_NAVIGATION, *DASHBOARD_NAVIGATION]

What it brings:

- product cards and the gallery show each visitor's look (``{% oscar_styled_image %}``),
  a product without an image shows Oscar's placeholder;
- a listing loads every card's looks at once (``{% oscar_prefetch products %}``),
  whether Oscar hands it products or search results;
- the product page has the style picker, "More in this style" and the beacon, and the
  product-viewed signal is wired so a refresh keeps the look;
- ``catalogue.product:N`` is a reference the API accepts (its images' variants);
- Oscar's product admin gets "Apply style…" and the progress column over each
  product's images;
- ``stylestore.contrib.oscar.dashboard`` (an app of its own) puts Stylestore inside
  Oscar's dashboard: "Apply style…" on its product list and product page, progress per
  product, the styles and the review queue; the menu links them and the analytics,
  each entry shown to those with its permission.

``examples/oscar_shop/`` is a runnable shop with it.
"""
