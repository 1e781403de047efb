"""Signed tokens: the visitor key in its cookie and the choice id of every personalized image.

A token is ``value:mac``, the MAC keyed by the project's ``SECRET_KEY``, a purpose
(so a token made for one use is worthless for another) and an optional context (the
visitor a choice was made for, so one visitor cannot replay another's choices). Tokens
made under a secret listed in ``SECRET_KEY_FALLBACKS`` still verify, as Django's do,
until it is removed from the list.

Why not ``django.core.signing.Signer``: every personalized page verifies the visitor's
cookie and signs one token per image it personalizes (five on a product page). The
Signer derives its key with SHA-256 and runs an HMAC through OpenSSL on every call,
about 20 µs each inside a page, which was a quarter of what personalization added to
a product page. Keyed BLAKE2b is a MAC by design (RFC 7693; Python's ``hashlib``
documents it for signing cookies), takes its key directly, and costs about 1 µs; the
key for each secret and purpose is derived once per process.
"""
import base64
import hashlib
import hmac
from functools import lru_cache

from django.conf import settings

SEPARATOR = ":"
#: 128-bit MACs: forging one is out of reach, and a token stays short enough for an
#: attribute on every image.
MAC_BYTES = 16


def sign(value: str, purpose: str, context: str = "") -> str:
    """``value`` with its MAC appended, valid only for the same purpose and context."""
    return f"{value}{SEPARATOR}{_mac(settings.SECRET_KEY, purpose, context, value)}"


def unsign(token: str, purpose: str, context: str = "") -> str | None:
    """The value of a token signed for this purpose and context under the current or a
    fallback secret; None for anything else (tampered, truncated, another purpose)."""
    value, separator, mac = token.rpartition(SEPARATOR)
    if not separator:
        return None
    presented = mac.encode()
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if hmac.compare_digest(presented, _mac(secret, purpose, context, value).encode()):
            return value
    return None


def _mac(secret: str, purpose: str, context: str, value: str) -> str:
    message = f"{context}\x1f{value}".encode()
    digest = hashlib.blake2b(message, key=_key(secret, purpose), digest_size=MAC_BYTES).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@lru_cache(maxsize=32)
def _key(secret: str, purpose: str) -> bytes:
    # Purpose first, then the secret, hashed to BLAKE2b's key size: secrets may be
    # longer than the 64 bytes a key can hold.
    return hashlib.blake2b(f"stylestore.{purpose}\x00{secret}".encode(), digest_size=64).digest()
