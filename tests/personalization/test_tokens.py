"""Signed tokens (the visitor cookie, choice ids): tampering, purpose, context, rotation."""
import multiprocessing
import random
import re

import pytest

from stylestore.models import StyleEvent
from stylestore.personalization import choices, tokens


def test_a_token_verifies_only_for_its_value_purpose_and_context():
    token = tokens.sign("v1|abc|3", "choice", "visitor-a")
    assert tokens.unsign(token, "choice", "visitor-a") == "v1|abc|3"
    assert tokens.unsign(token, "visitor", "visitor-a") is None  # another purpose
    assert tokens.unsign(token, "choice", "visitor-b") is None  # another visitor
    assert tokens.unsign(token, "choice") is None
    value, mac = token.rsplit(":", 1)
    assert tokens.unsign(f"v1|abd|3:{mac}", "choice", "visitor-a") is None  # the value changed
    assert tokens.unsign(f"{value}:{mac[:-1]}", "choice", "visitor-a") is None  # truncated MAC
    assert tokens.unsign(value, "choice", "visitor-a") is None  # no MAC at all


@pytest.mark.parametrize("garbage", ["", ":", "a:b:c", "x" * 5000, "v1:é€", "v1:\x00"])
def test_garbage_is_refused_without_an_error(garbage):
    assert tokens.unsign(garbage, "choice", "visitor-a") is None


def test_tokens_survive_a_secret_key_rotation_until_the_old_key_is_retired(settings):
    token = tokens.sign("key-1", "visitor")
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-" + "x" * 40, [old_key]
    assert tokens.unsign(token, "visitor") == "key-1"
    fresh = tokens.sign("key-1", "visitor")
    assert fresh != token and tokens.unsign(fresh, "visitor") == "key-1"
    settings.SECRET_KEY_FALLBACKS = []
    assert tokens.unsign(token, "visitor") is None
    assert tokens.unsign(fresh, "visitor") == "key-1"


def test_a_long_secret_key_is_used_whole(settings):
    # BLAKE2b keys hold 64 bytes: two secrets differing after that must not share MACs.
    settings.SECRET_KEY = "s" * 100 + "a"
    token = tokens.sign("value", "visitor")
    settings.SECRET_KEY = "s" * 100 + "b"
    assert tokens.unsign(token, "visitor") is None


def _choice_ids(connection, count):
    connection.send([choices.new_choice_id() for _ in range(count)])
    connection.close()


def test_choice_ids_are_url_safe_unique_and_not_repeated_by_forked_workers():
    ids = [choices.new_choice_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 12 and re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    assert len(ids[0]) <= StyleEvent._meta.get_field("choice_id").max_length
    # Code that seeds the global generator (tests, libraries) does not replay ids.
    random.seed(0)
    first = choices.new_choice_id()
    random.seed(0)
    assert choices.new_choice_id() != first
    # A gunicorn worker is a fork: its ids must not replay its parent's or a sibling's.
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    worker = context.Process(target=_choice_ids, args=(child, 100))
    worker.start()
    from_worker = parent.recv()
    worker.join()
    assert not set(from_worker) & {choices.new_choice_id() for _ in range(100)}
