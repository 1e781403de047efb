"""Page-number pagination for every list of the API.

Page numbers rather than cursors: the lists are small (styles, the variants of one
product) or browsed by staff (jobs), and a storefront wants to jump to page N.
``page_size`` lets a client fetch a whole style picker in one request, capped so a
single request cannot ask for an unbounded page.
"""
from rest_framework.pagination import PageNumberPagination


class StylestorePagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
