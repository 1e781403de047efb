"""The chaos tests' media fixture (``media.variant_media``) and the S3 fixtures it asks
for by name on an S3 run, visible to every test here."""
from tests.s3 import s3, s3_endpoint  # noqa: F401 (fixtures)

from .media import variant_media  # noqa: F401 (a fixture)
