"""JuliaRun's parameter values (framework/juliarun_params.py): Kubernetes quantities for
`cpu` and `memory`, the `ports` string with its shorthands, booleans, counts, envvars."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import juliarun_params as p

BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4}


@pytest.mark.parametrize(("text", "cores"), [
    ("100m", 0.1), ("1", 1.0), ("0.5", 0.5), ("2", 2.0), ("1500m", 1.5), ("1e-1", 0.1),
    (" 250m ", 0.25)])
def test_cpu_is_read_as_kubernetes_writes_it(text, cores):
    assert p.cores(text) == pytest.approx(cores)


@pytest.mark.parametrize(("text", "mib"), [
    ("512Mi", 512.0), ("2Gi", 2048.0), ("8Gi", 8192.0), ("1Ti", 1024.0 ** 2),
    ("1024Ki", 1.0), ("1G", 1e9 / 2 ** 20), ("1048576", 1.0), ("1.5Gi", 1536.0)])
def test_memory_is_read_as_kubernetes_writes_it(text, mib):
    assert p.mebibytes(text) == pytest.approx(mib)


@pytest.mark.parametrize("text", ["12Qi", "", "Mi", "1.2.3Gi", "-1Gi", "0", "ten",
                                  "1 Gi", "1gi", "100m", "1e"])
def test_what_is_not_memory_is_refused_saying_so(text):
    with pytest.raises(ValueError, match=r"quantity|positive|millibytes"):
        p.mebibytes(text)


@pytest.mark.parametrize("text", ["-1", "0", "0m", "abc", "1Q", "infinity", "nan"])
def test_what_is_not_a_number_of_cores_is_refused(text):
    with pytest.raises(ValueError):
        p.cores(text)


@given(st.integers(1, 2 ** 20), st.sampled_from(sorted(BINARY)))
def test_a_binary_quantity_round_trips_through_mib(number, suffix):
    mib = p.mebibytes(f"{number}{suffix}")
    assert mib == pytest.approx(number * 1024.0 ** (BINARY[suffix] - 2))
    if mib >= 1:
        assert p.mebibytes(p.mebibytes_text(mib)) == pytest.approx(mib)


@given(st.integers(1, 10 ** 6))
def test_millicores_are_thousandths(millis):
    assert p.quantity(f"{millis}m") == Decimal(millis) / 1000
    assert p.cores(f"{millis}m") == pytest.approx(millis / 1000)


@pytest.mark.parametrize(("text", "ports"), [
    ("http:80:80,https:443:443", [("http", 80, 80), ("https", 443, 443)]),
    ("80:80,443:443", [("port80", 80, 80), ("port443", 443, 443)]),
    ("80,443", [("port80", 80, 80), ("port443", 443, 443)]),
    ("http:80,https:443", [("http", 80, 80), ("https", 443, 443)]),
    ("nb:8888:31888", [("nb", 8888, 31888)]),
    ("", []),
])
def test_ports_follow_the_seeds_shorthand_rules(text, ports):
    assert [(x.name, x.container, x.service) for x in p.ports(text)] == ports


@pytest.mark.parametrize(("text", "why"), [
    ("http:80:80:80", "name:container:service"), ("http:0", "port number"),
    ("http:99999", "port number"), ("http:eighty", "port number"),
    ("9x:80", "port name"), ("a:80,a:81", "given twice"), ("a:80,b:80", "given twice"),
    ("http:80,", None)])
def test_a_malformed_ports_string_is_refused_saying_why(text, why):
    if why is None:  # a trailing comma is only an empty item
        assert len(p.ports(text)) == 1
        return
    with pytest.raises(ValueError, match=why):
        p.ports(text)


@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
                          st.integers(1, 65535), st.integers(1, 65535)),
                max_size=5, unique_by=(lambda t: t[0], lambda t: t[2])))
def test_ports_round_trip_through_their_text(items):
    specs = tuple(p.PortSpec(*item) for item in items)
    assert p.ports(p.ports_text(specs)) == specs


def test_envvars_booleans_and_counts():
    assert p.envvars("A=1,B=two;C=") == {"A": "1", "B": "two", "C": ""}
    with pytest.raises(ValueError, match="environment variable name"):
        p.envvars("1A=x")
    assert p.boolean("true") and not p.boolean("False")
    with pytest.raises(ValueError):
        p.boolean("maybe")
    assert p.whole("3") == 3
    with pytest.raises(ValueError):
        p.whole("-1")
    assert p.names(" data , scratch,") == ("data", "scratch")
