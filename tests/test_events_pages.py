"""What the Jobs, Images and Services pages follow on `GET /v1/events`, on a real
framework (no master): a job submitted by anyone appears as a `job` event at once (not
only once its phase changes), an uploaded image template as an `image` event, `building`
(the Images page's spinner), and the scripts' status of a service job is read live."""

from __future__ import annotations

import aiohttp

from tests.image_templates import config, template
from tests.test_events_http import _events, framework  # noqa: F401 (the fixture)


async def test_a_new_job_is_on_the_stream_at_once(framework):  # noqa: F811
    fw, http = framework
    async with http.get(f"{fw.url}/v1/events") as resp:
        await _events(resp, 1, kinds=("reset",))
        async with http.post(f"{fw.url}/v1/jobs", json={
                "name": "seen", "type": "batch", "task": {
                    "dockerimage": "busybox", "cpus": 512, "mem": 16}}) as posted:
            assert posted.status == 201
        (_id, _kind, job), = await _events(resp, 1, kinds=("job",))
    assert (job["name"], job["phase"], job["desired"]) == ("seen", "pending", 1)


async def test_an_uploaded_image_template_is_on_the_stream_building(framework):  # noqa: F811
    fw, http = framework
    form = aiohttp.FormData()
    form.add_field("contentType", "images")
    form.add_field("files[]", template(config("streamed")), filename="t.tar.gz")
    async with http.get(f"{fw.url}/v1/events") as resp:
        await _events(resp, 1, kinds=("reset",))
        async with aiohttp.ClientSession() as plain, \
                plain.post(f"{fw.url}/upload", data=form) as posted:
            assert posted.status == 200, await posted.text()
        (_id, _kind, image), = await _events(resp, 1, kinds=("image",))
    assert (image["name"], image["state"], image["deleted"]) == (
        "streamed:latest", "building", False)
