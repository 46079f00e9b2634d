"""JuliaRun's configuration file (framework/juliarun_config.py) and its reloads
(framework/process/juliarun_settings.py): what applies to berth is read, the Kubernetes
keys are ignored, cloud storage and anything unknown is refused by field, and a file
that does not load leaves the configuration in force as it was."""

from __future__ import annotations

import json
import logging

import pytest

from framework.juliarun_config import parse_config
from framework.process.juliarun_settings import JuliaRunSettings
from offers.problems import SpecError

SEED_LIKE = """{
    // as the seed's sample writes it, comments and Kubernetes keys included
    "log": {"level": "INFO", "filename": "juliarun.log"},
    "clustertype": "JuliaRun.KuberClusters.KuberCluster",
    "externalsvc": "LoadBalancer",
    "compute": {"uri": "https://kubernetes:6443/", "namespace": "default"},
    "images": {
        "julia": {"image": "berth/busybox", "executable": "sh", "juliaver": "v0.5"},
        "nginx": {"image": "berth/busybox"}
    },
    "storage": {
        "scratch": [{"name": "empty", "readonly": false}],
        "hostpath": [
            {"name": "juliarun", "path": "/srv/juliarun", "readonly": false},
            {"name": "pkgdefault", "path": "/srv/pkg", "readonly": true},
            {"name": "pkgdefaultrw", "path": "/srv/pkg"}
        ]
    },
    "packages": ["pkgdefault"],
    "accountingtype": "JuliaRun.KuberClusters.NoAccounting"
}"""


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse_config(text)
    return {p.field: p.problem for p in caught.value.problems}


def test_a_seed_like_file_loads_with_what_applies_to_berth():
    config = parse_config(SEED_LIKE)
    assert config.images["julia"].image == "berth/busybox"
    assert config.images["julia"].executable == "sh"
    assert config.images["nginx"].executable is None
    assert sorted(config.volumes) == ["empty", "juliarun", "pkgdefault", "pkgdefaultrw"]
    assert config.volumes["pkgdefault"].readonly
    assert config.packages == ("pkgdefault",)
    assert config.ignored == ["accountingtype", "clustertype", "compute", "externalsvc"]
    assert config.host_paths() == ["/srv/juliarun", "/srv/pkg", config.scratchdir]


def test_a_comment_marker_inside_a_string_is_kept():
    config = parse_config('{"images": {"j": {"image": "reg//x", "executable": "//x"}}}')
    assert config.images["j"].executable == "//x"


@pytest.mark.parametrize(("storage", "field", "words"), [
    ({"glusterfs": [{"name": "g"}]}, "storage.glusterfs", "not reachable"),
    ({"nfs": []}, "storage.nfs", "not reachable"),
    ({"ebs": []}, "storage.ebs", "not reachable"),
    ({"tape": []}, "storage.tape", "unknown storage kind"),
    ({"hostpath": [{"name": "a", "path": "relative"}]}, "storage.hostpath[0].path",
     "absolute"),
    ({"hostpath": [{"name": "Bad Name", "path": "/x"}]}, "storage.hostpath[0].name",
     "pattern"),
    ({"hostpath": [{"name": "a", "path": "/x"}], "scratch": [{"name": "a"}]}, "storage",
     "given twice"),
])
def test_storage_problems_are_named_by_field(storage, field, words):
    problems = _problems(json.dumps({"storage": storage}))
    assert field in problems and words in problems[field], problems


def test_other_problems_are_named_by_field():
    assert "unknown configuration key" in _problems('{"clusterz": 1}')["clusterz"]
    assert "is required" in _problems('{"images": {"julia": {}}}')["images.julia.image"]
    assert "log.level" in _problems('{"log": {"level": "LOUD"}}')
    assert "needs a volume named 'pkg'" in _problems('{"packages": ["pkg"]}')["packages"]
    assert "not JSON" in _problems('{"images": ')[""]
    assert "JSON object" in _problems("[1]")[""]


def test_a_reload_that_fails_leaves_the_old_configuration(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(SEED_LIKE)
    settings = JuliaRunSettings(path)
    try:
        before = settings.config
        path.write_text('{"images": {"julia": ')  # half written
        problems = settings.reload()
        assert problems and "not JSON" in problems[0].problem
        assert settings.config is before
        path.write_text('{"images": {"julia": {"image": "other"}}}')
        assert settings.reload() == []
        assert settings.config.images["julia"].image == "other"
        path.unlink()
        assert "cannot read" in settings.reload()[0].problem
        assert settings.config.images["julia"].image == "other"
    finally:
        settings.close()


def test_the_log_section_sends_the_juliarun_log_to_its_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(SEED_LIKE)
    settings = JuliaRunSettings(path)
    try:
        settings.note("submitted %s", "helloworld")
        for handler in logging.getLogger("berth.juliarun.file").handlers:
            handler.flush()
        assert "submitted helloworld" in (tmp_path / "juliarun.log").read_text()
    finally:
        settings.close()


def test_a_file_that_does_not_load_at_start_is_refused(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"storage": {"nfs": []}}')
    with pytest.raises(SpecError, match=r"storage\.nfs"):
        JuliaRunSettings(path)
