"""Every job in examples/jobs/ is a valid job JSON, so what the README shows can be run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offers.job import JobType, parse_job

EXAMPLES = sorted((Path(__file__).parent.parent / "examples" / "jobs").glob("*.json"))


def test_there_is_an_example_of_every_job_type():
    kinds = {json.loads(path.read_text())["type"] for path in EXAMPLES}
    assert kinds == {str(kind) for kind in JobType}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_is_a_valid_job(path: Path):
    spec = parse_job(json.loads(path.read_text()))
    assert spec.name == json.loads(path.read_text())["name"]
