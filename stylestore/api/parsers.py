"""Request parsers that refuse what DRF's would let through as a server error.

DRF's ``JSONParser`` turns ``ValueError`` into a 400 but lets two hostile inputs
escape:

- Deeply nested JSON (``[[[[...``, a few kilobytes suffice) makes Python's decoder
  raise ``RecursionError``.
- ``\\ud800``-style escapes decode to lone surrogates, which are valid in a Python
  string but not in UTF-8: the first database write or log line with such a string
  raises ``UnicodeEncodeError``.

Both are the client's fault and become ``ParseError`` (400) here. Form and
multipart bodies need neither: Django decodes them with replacement characters.
"""
import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - a string holds a lone surrogate escape.") from None
        return data
