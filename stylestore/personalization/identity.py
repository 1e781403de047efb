"""Who the visitor is: our own visitor key, consent, and the link to a user account.

Why our own key rather than the session: Django rotates the session key at login
(session fixation protection) and flushes it at logout, and personalization should
follow a shopper across that; nor should it force a session row onto every visitor.
So a consenting visitor gets a random 32-hex key in a long-lived cookie
(``STYLESTORE["VISITOR_COOKIE"]``: HttpOnly, SameSite=Lax, Secure over HTTPS). The
value is signed with the project's secret, so a client cannot pick a key (and create
rows under it) or guess another visitor's. Headless storefronts send the same signed
token in an ``X-Visitor-Id`` header instead; the API returns it to them.

SameSite=Lax is also what makes the cookie-authenticated event and erase endpoints
safe without a CSRF token (``navigator.sendBeacon`` cannot send one): browsers do not
attach a Lax cookie to a cross-site POST, so another site cannot act as the visitor.

Consent: with ``STYLESTORE["CONSENT_REQUIRED"]``, nothing is read, written or stored
for a visitor unless the consent cookie (``STYLESTORE["CONSENT_COOKIE"]``, or an
``X-Visitor-Consent`` header for headless clients) says they agreed: one of
``STYLESTORE["CONSENT_GRANTED_VALUES"]`` (case and surrounding spaces aside). Anything
else (absent, empty, "reject", "necessary", "undefined", "%31", ...) is no consent: the
visitor gets no key, no row and no events; they see the globally best variant (or the
original photo), and a visitor cookie left from before is deleted. An explicit refusal
(``REFUSALS``) also erases what was stored under that cookie: a withdrawal.

The ``Visitor`` row is created lazily, the first time something must be remembered
(a product view, an event, a login), so browsing a listing writes nothing.
"""
import functools
import json
import re
import secrets
import time

from django.db import IntegrityError, connections, transaction
from django.utils.cache import patch_vary_headers

from ..conf import stylestore_settings
from ..models import Visitor
from . import tokens
from .choices import read_choice
from .erase import erase_visitor, is_revoked
from .looks import CLICKED_COOKIE
from .policy import VisitorState

VISITOR_HEADER = "X-Visitor-Id"
CONSENT_HEADER = "X-Visitor-Consent"
#: Consent values that withdraw an earlier agreement, erasing what was stored. Values
#: neither granted nor refused store nothing and erase nothing.
REFUSALS = frozenset({"", "0", "false", "no", "off", "denied", "deny", "declined", "reject", "rejected", "withdrawn",
                      "necessary"})
#: The cookie is re-issued (its expiry slides) at most once a day, not on every response.
REISSUE_AFTER_SECONDS = 24 * 3600
REQUEST_ATTR = "stylestore_visitor"
TOKEN_PURPOSE = "visitor"
KEY_RE = re.compile(r"[0-9a-f]{32}")
_UNSET = object()


def consent_signal(request):
    """The visitor's consent answer: True (an agreement, see CONSENT_GRANTED_VALUES),
    False (an explicit refusal), or None (none given, or not one we understand)."""
    value = request.headers.get(CONSENT_HEADER)
    if value is None:
        value = request.COOKIES.get(stylestore_settings.CONSENT_COOKIE)
    if value is None:
        return None
    value = value.strip().lower()
    if value in {granted.lower() for granted in stylestore_settings.CONSENT_GRANTED_VALUES}:
        return True
    return False if value in REFUSALS else None


def has_consent(request) -> bool:
    """Whether per-visitor personalization may run for this request."""
    return not stylestore_settings.CONSENT_REQUIRED or consent_signal(request) is True


def new_key() -> str:
    return secrets.token_hex(16)


def sign_key(key: str, issued: int | None = None) -> str:
    """The token a cookie or ``X-Visitor-Id`` carries: the key, when it was issued, a MAC."""
    issued = int(time.time()) if issued is None else issued
    return tokens.sign(f"{key}-{issued:x}", TOKEN_PURPOSE)


def unsign_token(token: str):
    """``(key, issued)`` for a valid, unexpired token; None for anything else."""
    value = tokens.unsign(token, TOKEN_PURPOSE)
    if value is None:
        return None
    try:
        key, issued_hex = value.split("-")
        issued = int(issued_hex, 16)
    except ValueError:
        return None
    if not KEY_RE.fullmatch(key) or time.time() - issued > stylestore_settings.VISITOR_COOKIE_AGE:
        return None
    return key, issued


def current_epoch() -> int:
    """The exploration epoch: the UTC day. The same visitor sees the same draw all day."""
    return int(time.time() // 86400)


class VisitorContext:
    """One request's view of its visitor, shared by the tags, the API and event recording.

    Loads the ``Visitor`` row at most once per request (one query, however many images
    the page shows) and never creates it unless asked to. ``images``, ``choices`` and
    ``decisions`` are per-request scratchpads of ``service``: the variants it loaded
    (which do not depend on the visitor) and what it chose per image and per set of
    available styles (which do, so they are dropped whenever the visitor's state
    changes during the request).
    """

    def __init__(self, request):
        self.consent = has_consent(request)
        #: Consent is required and the visitor explicitly refused it (a withdrawal).
        self.refused = stylestore_settings.CONSENT_REQUIRED and consent_signal(request) is False
        self.epoch = current_epoch()
        self.images = {}
        self.choices = {}
        self.decisions = {}
        self._state = None
        self._recent_views = None
        self._looks = None
        self.accessed = False
        self._visitor = _UNSET
        self._issue_cookie = False
        self._clear_cookie = False
        token = request.headers.get(VISITOR_HEADER) or request.COOKIES.get(stylestore_settings.VISITOR_COOKIE)
        parsed = unsign_token(token) if token else None
        #: The valid key the client presented, consent or not: erasure must work even
        #: after consent was withdrawn. Nothing else uses it without consent.
        self.presented_key = parsed[0] if parsed else None
        self._key = self.presented_key if self.consent else None
        self._clicked_token = request.COOKIES.get(CLICKED_COOKIE, "")
        if self._key is not None:
            self._issue_cookie = time.time() - parsed[1] > REISSUE_AFTER_SECONDS

    @property
    def key(self):
        """The visitor key (minted on first use), or None without consent."""
        if not self.consent:
            return None
        self.accessed = True
        if self._key is None:
            self._mint()
        return self._key

    def _mint(self):
        self._key = new_key()
        self._visitor = None  # a fresh key has no row yet: no query needed to know
        self._issue_cookie = True
        self.accessed = True

    @functools.cached_property
    def clicked(self):
        """The verified choice of the listing card the visitor clicked last
        (``looks.CLICKED_COOKIE``), or None: the product page it opened shows that look
        even before the card's impression is recorded."""
        if not self._clicked_token or self._key is None:
            return None
        return read_choice(self._key, self._clicked_token)

    @property
    def known_key(self):
        """The key if there is one already; unlike ``key``, never mints one."""
        return self._key

    @property
    def token(self):
        """The signed key, for the cookie and for headless clients' ``X-Visitor-Id``."""
        key = self.key
        return None if key is None else sign_key(key)

    @property
    def visitor(self):
        """The stored ``Visitor``, or None (no consent, or nothing remembered yet)."""
        key = self.key
        if key is None:
            return None
        if self._visitor is _UNSET:
            self._visitor = _visitor_by_key(key)
        return self._visitor

    @property
    def state(self):
        """The policy state to choose with: None without consent, else the stored one
        (a fresh, empty state for a visitor with nothing remembered yet)."""
        if not self.consent:
            return None
        if self._state is None:
            key = self.key
            if self._visitor is _UNSET:
                stored, self._recent_views, self._looks = _stored_state(key)
            elif self._visitor is not None:
                stored, self._recent_views, self._looks = (
                    self._visitor.state, self._visitor.recent_views, self._visitor.looks)
            else:
                stored, self._recent_views, self._looks = None, {}, {}
            self._state = VisitorState.from_dict(stored) if stored is not None else VisitorState()
        return self._state

    @property
    def recent_views(self) -> dict:
        """``{source id: unix time}`` of the visitor's latest views, as stored ({} without
        consent or a row); read with the state, in the same query."""
        if self.state is None:
            return {}
        return self._recent_views or {}

    @property
    def looks(self) -> dict:
        """The looks the visitor's images were shown in (``looks``), as stored ({}
        without consent or a row); read with the state, in the same query."""
        if self.state is None:
            return {}
        return self._looks or {}

    def drop_revoked_key(self):
        """Before anything is stored or verified under the presented key: if its visitor
        was erased, the key is revoked and this request starts a new visitor instead.
        Looked up only for a key without a row (one query; the row's is cached)."""
        if self._key is not None and self._key == self.presented_key and self.visitor is None \
                and is_revoked(self._key):
            self.rotate()

    def get_or_create_visitor(self, *, lock=False):
        """The ``Visitor`` row, created if needed (never under a revoked key); locked for
        update with ``lock`` (call inside a transaction). Raises ``PermissionError``
        without consent."""
        self.drop_revoked_key()
        key = self.key
        if key is None:
            raise PermissionError("no consent: nothing may be stored for this visitor")
        visitor = _visitor_by_key(key, lock=lock)
        if visitor is None:
            try:
                with transaction.atomic():
                    visitor = Visitor.objects.create(key=key)
            except IntegrityError:  # a concurrent request of the same visitor created it
                visitor = _visitor_by_key(key, lock=lock)
        self.remember(visitor)
        return visitor

    def forget_choices(self):
        """Drop what was chosen with the state as it was (it just changed)."""
        self.choices.clear()
        self.decisions.clear()

    def remember(self, visitor):
        """Adopt ``visitor`` (just saved) as this request's row and state."""
        self._visitor = visitor
        self._state = VisitorState.from_dict(visitor.state)
        self._recent_views = visitor.recent_views
        self._looks = visitor.looks
        self.forget_choices()

    def rotate(self):
        """Start a new anonymous visitor in this browser (after logout, or when another
        account logs in on it): later requests no longer see the previous one's data."""
        if not self.consent:
            return
        self._state = None
        self.forget_choices()
        self._mint()

    def forget(self):
        """After erasure: drop the key and delete the cookie."""
        self._key = self.presented_key = None
        self._visitor = None
        self._state = None
        self.forget_choices()
        self._issue_cookie = False
        self._clear_cookie = True
        self.consent = False  # nothing more is stored during this request

    def update_response(self, request, response):
        """Set, refresh or delete the visitor cookie as this request requires."""
        name = stylestore_settings.VISITOR_COOKIE
        if self._clear_cookie or (not self.consent and name in request.COOKIES):
            response.delete_cookie(name, samesite="Lax")
        elif self._issue_cookie and self._key is not None:
            response.set_cookie(
                name,
                sign_key(self._key),
                max_age=stylestore_settings.VISITOR_COOKIE_AGE,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        if self.accessed:
            # The page depends on who is asking: shared caches must not mix visitors.
            patch_vary_headers(response, ("Cookie", VISITOR_HEADER))


def _visitor_by_key(key, *, lock=False):
    """The ``Visitor`` with this key, or None; locked for update with ``lock`` where the
    database can (inside a transaction). Raw SQL: every personalized page runs it, and
    compiling the ORM's query would cost more than running it."""
    connection = connections[Visitor.objects.db]
    table = connection.ops.quote_name(Visitor._meta.db_table)
    column = connection.ops.quote_name(Visitor._meta.get_field("key").column)
    for_update = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    return next(iter(Visitor.objects.raw(f"SELECT * FROM {table} WHERE {column} = %s{for_update}", [key])), None)


def _stored_state(key):
    """``(state, recent_views, looks)`` as stored for the visitor with this key,
    ``(None, {}, {})`` without a row. Three columns through a cursor, with the statement made once per
    database and the JSON decoded directly: every personalized page reads them and
    needs nothing else of the row, and building a model instance, or the statement,
    cost several times the query."""
    connection = connections[Visitor.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(_state_query(connection.alias), [key])
        row = cursor.fetchone()
    if row is None:
        return None, {}, {}
    # What JSONField.from_db_value does for these plain fields (no custom decoder),
    # without its per-call checks; a backend that decodes JSON itself passes it through.
    return tuple(json.loads(value) if isinstance(value, (str, bytes)) else value for value in row)


@functools.lru_cache(maxsize=None)
def _state_query(alias):
    quote = connections[alias].ops.quote_name
    meta = Visitor._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("state", "recent_views", "looks"))
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('key').column)} = %s"


def get_visitor(request) -> VisitorContext:
    """The request's ``VisitorContext`` (made here if the middleware did not run; then
    no cookie is written, which suits headless clients using ``X-Visitor-Id``)."""
    context = getattr(request, REQUEST_ATTR, None)
    if context is None:
        context = VisitorContext(request)
        setattr(request, REQUEST_ATTR, context)
    return context


class VisitorMiddleware:
    """Attach ``request.stylestore_visitor`` and keep the visitor cookie in step.

    Put it after ``AuthenticationMiddleware``. It costs nothing on requests that do
    not personalize anything: the key is read, not verified against the database.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = get_visitor(request)
        response = self.get_response(request)
        if context.refused and context.presented_key:
            # Consent withdrawn: what was stored under it goes now, not at the purge.
            erase_visitor(context)
        context.update_response(request, response)
        return response


def link_user(context: VisitorContext, user):
    """Link the visitor to ``user``; a browser that belonged to another account starts
    afresh. A new device with nothing remembered adopts the state and looks of the
    user's most recently seen device, so their picks, taste and looks follow them."""
    with transaction.atomic():
        visitor = context.get_or_create_visitor(lock=True)
        if visitor.user_id is not None and visitor.user_id != user.pk:
            context.rotate()
            visitor = context.get_or_create_visitor(lock=True)
        if not visitor.state:
            previous = (
                Visitor.objects.filter(user=user)
                .exclude(pk=visitor.pk)
                .order_by("-last_seen_at")
                .values_list("state", "looks")
                .first()
            )
            visitor.state, visitor.looks = previous or ({}, {})
        visitor.user = user
        visitor.save(update_fields=["user", "state", "looks"])
        context.remember(visitor)


def on_login(sender, request, user, **kwargs):
    """``user_logged_in``: a consenting visitor's taste follows them to their account."""
    context = getattr(request, REQUEST_ATTR, None) if request is not None else None
    if context is not None and context.consent:
        link_user(context, user)


def on_logout(sender, request, user, **kwargs):
    """``user_logged_out``: the next person on this browser starts as a new visitor."""
    context = getattr(request, REQUEST_ATTR, None) if request is not None else None
    if context is not None and user is not None:
        context.rotate()
