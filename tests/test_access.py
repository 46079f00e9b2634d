"""Users, tokens and what they may do, without a server: names, token texts, the password
cache, the authenticator's answers, and the store's changes seen through its generation."""

from __future__ import annotations

import base64

import pytest

from access.authenticate import Authenticator, Refused
from access.names import namespace_problem, user_problem
from access.passwords import PasswordChecker, hash_password
from access.policy import LOCAL, Scope
from access.store import AccessError, AccessStore
from access.tokens import TokenError, new_token, parse_token


@pytest.fixture
def store(tmp_path):
    s = AccessStore(f"sqlite:///{tmp_path / 'a.db'}")
    yield s
    s.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("name", ["team-a", "a", "x" * 63, "0ops"])
def test_namespace_names_that_are_url_segments_pass(name):
    assert namespace_problem(name) is None


@pytest.mark.parametrize("name", ["", "Team", "a/b", "a b", "-a", "a-", "x" * 64, "..", "a%2F"])
def test_namespace_names_that_could_not_be_a_path_segment_are_refused(name):
    assert "not a namespace name" in namespace_problem(name)


@pytest.mark.parametrize("name", ["bob\n", "bo\x07b", "a:b", "", " bob", "x" * 65])
def test_user_names_with_control_characters_or_colons_are_refused(name):
    assert "not a user name" in user_problem(name)


def test_a_token_parses_back_and_a_truncated_or_foreign_one_says_why():
    text, token_id, digest = new_token("0a1b2c3d")
    parsed = parse_token(text, "0a1b2c3d")
    assert (parsed.id, parsed.digest) == (token_id, digest)
    assert parse_token(base64.b64encode(text.encode()).decode(), "0a1b2c3d") == parsed
    with pytest.raises(TokenError, match="truncated"):
        parse_token(text[:-5], "0a1b2c3d")
    with pytest.raises(TokenError, match="another cluster"):
        parse_token(text, "ffffffff")


def test_the_password_cache_never_accepts_a_wrong_password_and_forgets_an_old_hash():
    checker = PasswordChecker()
    old = hash_password("correct horse")
    assert checker.check("bob", old, "correct horse")
    assert checker.check("bob", old, "correct horse")  # cached
    assert not checker.check("bob", old, "correct horsE")
    new = hash_password("battery staple")
    assert not checker.check("bob", new, "correct horse")  # passwd changed the hash


def test_without_users_a_caller_is_local_and_with_one_it_must_authenticate(store):
    auth = Authenticator(store.snapshot(), clock=lambda: 0.0)
    assert auth.authenticate(None) is LOCAL
    store.add_user("root", "admin", frozenset(), hash_password("rootpass1"), 0.0)
    auth.snapshot = store.snapshot()
    assert isinstance(auth.authenticate(None), Refused)
    who = auth.authenticate(basic("root", "rootpass1"))
    assert who.name == "root" and who.scope is Scope.ADMIN and who.namespaces is None
    assert "wrong user name or password" in auth.authenticate(basic("root", "nope")).reason
    assert "wrong user name or password" in auth.authenticate(basic("ghost", "x")).reason


@pytest.mark.parametrize("header, problem", [
    ("Basic !!!", "malformed Basic"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "no ':'"),
    ("Digest abc", "unsupported Authorization scheme"),
    ("Bearer berth_123", "malformed or truncated"),
    ("Bearer ", "malformed or truncated"),
])
def test_malformed_authorization_headers_are_refused_with_the_problem(store, header, problem):
    store.add_user("root", "admin", frozenset(), hash_password("rootpass1"), 0.0)
    auth = Authenticator(store.snapshot(), clock=lambda: 0.0)
    assert problem in auth.authenticate(header).reason


def test_a_token_acts_within_its_scope_namespace_and_lifetime(store):
    store.add_user("alice", "user", frozenset({"team-a", "team-b"}), hash_password("alicepass"),
                   0.0)
    text, record = store.add_token("alice", "team-a", Scope.READ, 0.0, expires_at=100.0)
    now = [50.0]
    auth = Authenticator(store.snapshot(), clock=lambda: now[0])
    who = auth.authenticate(f"Bearer {text}")
    assert who.token_id == record.id and who.namespaces == frozenset({"team-a"})
    assert who.missing(Scope.READ, "team-a") is None
    assert "scope read; this needs write" in who.missing(Scope.WRITE, "team-a")
    assert "may act only in team-a" in who.missing(Scope.READ, "team-b")
    assert auth.authenticate(None, token=text).token_id == record.id  # jruntok
    now[0] = 100.0
    assert "expired" in auth.authenticate(f"Bearer {text}").reason


def test_revoking_a_token_or_removing_its_user_bumps_the_generation(store):
    store.add_user("alice", "user", frozenset({"default"}), hash_password("alicepass"), 0.0)
    text, record = store.add_token("alice", None, Scope.WRITE, 0.0, None)
    before = store.generation()
    store.revoke_token(record.id)
    assert store.generation() == before + 1
    auth = Authenticator(store.snapshot(), clock=lambda: 0.0)
    assert "not valid" in auth.authenticate(f"Bearer {text}").reason
    _, other = store.add_token("alice", None, Scope.WRITE, 0.0, None)
    assert store.remove_user("alice") == 1
    assert store.snapshot().tokens == {}
    with pytest.raises(AccessError, match="no token"):
        store.revoke_token(other.id)


def test_changes_that_cannot_be_made_change_nothing(store):
    store.add_user("alice", "user", frozenset({"team-a"}), hash_password("alicepass"), 0.0)
    generation = store.generation()
    with pytest.raises(AccessError, match="already exists"):
        store.add_user("alice", "admin", frozenset(), hash_password("otherpass"), 0.0)
    with pytest.raises(AccessError, match="not in it"):
        store.add_token("alice", "team-b", Scope.WRITE, 0.0, None)
    with pytest.raises(AccessError, match="not an admin"):
        store.add_token("alice", None, Scope.ADMIN, 0.0, None)
    with pytest.raises(AccessError, match="no user"):
        store.set_password("ghost", hash_password("whatever1"))
    assert store.generation() == generation
    assert store.snapshot().users["alice"].role == "user"


def test_namespaces_keep_quotas_and_a_budget_that_grants_add_to_and_work_spends(store):
    from access.namespaces import CreditUnit, Quota

    assert store.set_namespace("team-a", Quota(cpus=8.0, instances=10), 0.0) is True
    assert store.set_namespace("team-a", Quota(cpus=4.0), 1.0) is False  # changed
    assert store.snapshot().namespaces["team-a"].quota == Quota(cpus=4.0)
    assert store.grant_credits("team-a", 5.0, 2.0) == 5.0
    assert store.grant_credits("team-b", 1.5, 2.0) == 1.5  # a first grant makes it
    assert store.charge({"team-a": 2.25, "free": 9.0}) == {"team-a": 2.75, "team-b": 1.5}
    assert store.balances() == {"team-a": 2.75, "team-b": 1.5}
    assert CreditUnit().units(cpus=2.0, mem=1024.0) == 2.0  # the larger share counts
    assert CreditUnit().units(cpus=0.5, mem=4096.0) == 4.0


@pytest.mark.parametrize("quota, field", [({"cpus": -1.0}, "cpus"), ({"jobs": -2}, "jobs"),
                                          ({"mem": float("nan")}, "mem")])
def test_a_quota_below_zero_or_not_a_number_is_named(quota, field):
    from access.namespaces import Quota

    [(name, problem)] = Quota(**quota).problems()
    assert name == field and "must be a number >= 0" in problem
