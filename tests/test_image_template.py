"""Image templates read and checked in memory (offers.image_template): what Jisto's
upload accepts, each refusal with its own message naming the field, image names as
Docker's reference grammar has them, and the Dockerfile made from a template."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offers.image_template import (
    RUNFILE_NOT_EXECUTABLE,
    build_context,
    dockerfile,
    image_key,
    image_name_problem,
    read_template,
)
from offers.problems import SpecError
from tests.image_templates import config, link, template


def _refusal(data: bytes, field: str, **kw) -> str:
    """The problem the refusal names `field` with."""
    with pytest.raises(SpecError) as caught:
        read_template(data, **kw)
    problems = {p.field: p.problem for p in caught.value.problems}
    assert field in problems, problems
    return problems[field]


def test_a_template_is_read_with_its_files_and_config():
    read = read_template(template(config("stress:1.0"), {
        "build.sh": b"true", "run.sh": b"true", "lib/data.txt": b"x" * 100}))
    assert read.config.name == "stress:1.0"
    assert read.config.installdestination == "/app"
    assert {path for path, _, _ in read.files} == {"build.sh", "run.sh", "lib/data.txt"}


def test_the_name_gets_dockers_default_tag():
    assert read_template(template(config("stress"))).config.name == "stress:latest"


def test_archives_made_with_a_leading_dot_slash_are_read():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, content in (("./config.json", b'{"name": "a", "installsource": ".", '
                               b'"installdestination": "/a", "workingdir": "/a", '
                               b'"buildfile": "build.sh", "runfile": "run.sh"}'),
                              ("./build.sh", b"true"), ("./run.sh", b"true")):
            entry = tarfile.TarInfo(name)
            entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content))
    assert read_template(out.getvalue()).config.name == "a:latest"


def test_a_subfolder_as_installsource_copies_only_it():
    read = read_template(template(config(installsource="src"), {
        "src/build.sh": b"true", "src/run.sh": b"true", "README": b"not copied"}))
    assert {path for path, _, _ in read.files} == {"build.sh", "run.sh"}


@pytest.mark.parametrize(("data", "kw", "field", "words"), [
    (template(config(), gzipped=False), {}, "archive", "not gzip"),
    (b"\x1f\x8b" + b"not really gzip", {}, "archive", "not a tar.gz"),
    (template(config()), {"limit": 100}, "archive", "at most 100"),
    (template(None), {}, "config.json", "no config.json"),
    (template(config(), {"build.sh": b"true"}), {}, "config.json.runfile",
     "has no file 'run.sh'"),
    (template(config(), {"run.sh": b"true"}), {}, "config.json.buildfile",
     "has no file 'build.sh'"),
    (template(config(installsource="src")), {}, "config.json.installsource",
     "no folder 'src'"),
    (template({"name": "a"}), {}, "config.json.installsource", "is required"),
    (template(config(), {"../evil": b"x", "build.sh": b"", "run.sh": b""}), {}, "archive",
     "leads out of the archive"),
    (template(config(), {"/etc/evil": b"x", "build.sh": b"", "run.sh": b""}), {},
     "archive", "absolute"),
    (template(config(), extra=[link("out", "../../etc/passwd")]), {}, "archive",
     "links out of the archive"),
    (template(config(), extra=[link("abs", "/etc/passwd")]), {}, "archive",
     "links to an absolute path"),
    (template(config(), extra=[link("hard", "run.sh", symbolic=False)]), {}, "archive",
     "hard link"),
    (template(config(buildfile="../build.sh")), {}, "config.json.buildfile",
     "leads out of the archive"),
    (template(config(installdestination="app")), {}, "config.json.installdestination",
     "absolute path"),
    (template(config("Stress")), {}, "config.json.name", "must be lowercase"),
    (template(config("stress:bad tag")), {}, "config.json.name", "tag"),
    (template(config("stress@sha256:abc")), {}, "config.json.name", "digest"),
    (template(config("-stress")), {}, "config.json.name", "not a valid repository name"),
    (template(config("example.com/stress")), {}, "config.json.name", "registry"),
    (template(config(extra=1)), {}, "config.json.extra", "unknown field"),
])
def test_each_bad_input_is_refused_with_its_own_message(data, kw, field, words):
    problem = _refusal(data, field, **kw)
    assert words in problem, problem


def test_a_link_inside_the_archive_is_kept():
    read = read_template(template(config(), extra=[link("start", "run.sh")]))
    assert ("start", -1, b"run.sh") in read.files


@pytest.mark.parametrize(("name", "ok"), [
    ("stress", True), ("team/stress", True), ("team/a.b_c__d-e:1.0-rc_1", True), ("my.host/f", False),
    ("stress:latest", True), ("", False), ("UPPER", False), ("a//b", False),
    ("a:", False), ("a:" + "x" * 129, False), ("a_", False), ("a___b", False),
])
def test_image_names_follow_dockers_grammar(name, ok):
    assert (image_name_problem(name) is None) is ok


def test_a_tasks_image_is_matched_with_berths_registry_left_out():
    assert image_key("stress", None) == "stress:latest"
    assert image_key("127.0.0.1:5000/stress:2", "127.0.0.1:5000") == "stress:2"


def test_the_dockerfile_copies_builds_checks_and_runs():
    read = read_template(template(config("stress", installdestination="/opt/s/",
                                         workingdir="/opt")))
    text = dockerfile(read.config, "base/image:1")
    lines = text.splitlines()
    assert lines[0] == "FROM base/image:1"
    assert lines[1] == 'COPY app/ "/opt/s/"'
    assert lines[2] == 'WORKDIR "/opt"'
    assert "/opt/s/build.sh" in lines[3]
    assert RUNFILE_NOT_EXECUTABLE in lines[4]
    assert lines[5] == 'CMD ["/opt/s/run.sh"]'
    with tarfile.open(fileobj=io.BytesIO(build_context(read, "base/image:1"))) as context:
        names = context.getnames()
        assert context.extractfile("Dockerfile").read().decode() == text
        assert context.getmember("app/run.sh").mode == 0o755
    assert set(names) >= {"Dockerfile", "app", "app/build.sh", "app/run.sh"}


_PARTS = st.sampled_from(["..", ".", "a", "b", "", "/", "config.json", "run.sh"])


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.lists(_PARTS, min_size=1, max_size=4).map("/".join),
                      max_size=5),
       targets=st.lists(st.lists(_PARTS, min_size=1, max_size=4).map("/".join),
                        max_size=2))
def test_whatever_the_entries_an_archive_is_read_or_refused_never_escaping(names, targets):
    files = {"build.sh": b"", "run.sh": b""}
    files.update({name: b"x" for name in names if name})
    extra = [link(f"l{i}", target) for i, target in enumerate(targets) if target]
    try:
        read = read_template(template(config(), files, extra=extra))
    except SpecError as exc:
        assert exc.problems  # a refusal names what is wrong
        return
    for path, mode, content in read.files:
        assert not path.startswith(("/", "../")) and path != ".."
        if mode < 0:  # a link: its target stays inside
            assert not content.startswith(b"/")
