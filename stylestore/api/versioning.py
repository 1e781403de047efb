"""URL path versioning: ``/api/v1/...``.

The version is in the path rather than in a header so that URLs copied from the docs,
cached by a CDN or logged by a proxy say which contract they belong to. A request
for a version that does not exist (``/api/v2/styles/``) is a 404 in the API's error
shape. A future ``v2`` is added to ``allowed_versions``, and views branch on
``request.version`` only where the contracts differ.
"""
from rest_framework.versioning import URLPathVersioning


class StylestoreVersioning(URLPathVersioning):
    default_version = "v1"
    allowed_versions = ("v1",)
    version_param = "version"
