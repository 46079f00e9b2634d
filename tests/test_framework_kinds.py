"""`intelligence` places a new submission of a known kind on its kind's metered use."""

from __future__ import annotations

from framework import events as ev
from framework.kind_usage import KindSettings
from offers.states import TaskState
from tests.framework_harness import Harness, launches, task

STRESS = {"mem": 1000, "cpus": 1.0, "arguments": ["--vm-bytes", "60M"]}


def first_of_kind_metered(strategy: str, **more) -> Harness:
    """One task of a kind runs and is metered at 0.2 cpus, 200 MiB (its peak)."""
    h = Harness.make(strategy=strategy, kinds=KindSettings(min_instances=1), **more)
    first = h.submit(task("stress-a", **STRESS))
    h.run_launches(h.offers(h.offer("a1")))
    h.send(ev.UsageObserved(first, cpus=0.1, mem=150))
    h.send(ev.UsageObserved(first, cpus=0.2, mem=200))
    return h


def test_a_second_task_of_a_known_kind_is_placed_on_its_metered_peak_plus_margin():
    h = first_of_kind_metered("intelligence")
    second = h.submit(task("stress-b", **STRESS))  # another id: the same kind
    [launch] = launches(h.offers(h.offer("a2", cpus=0.5, mem=500)))  # fits only if sized
    [(task_id, spec)] = launch.tasks
    assert task_id == second
    assert (spec.cpus, spec.mem) == (0.22, 220.0)  # the peak times 1 + margin (0.1)
    record = h.scheduler.task(second)
    assert record.launched_spec.mem == 220.0 and record.spec.mem == 1000  # asked: kept


def test_binpack_places_the_same_task_on_its_request():
    h = first_of_kind_metered("binpack")
    second = h.submit(task("stress-b", **STRESS))
    assert launches(h.offers(h.offer("a2", cpus=0.5, mem=500))) == []
    [launch] = launches(h.offers(h.offer("a3")))
    assert [(t, s.mem) for t, s in launch.tasks] == [(second, 1000)]


def test_another_kind_is_not_sized_by_it():
    h = first_of_kind_metered("intelligence")
    h.submit(task("other", **{**STRESS, "arguments": ["--vm-bytes", "900M"]}))
    [launch] = launches(h.offers(h.offer("a2")))
    assert [s.mem for _, s in launch.tasks] == [1000]


def test_a_sized_task_that_runs_out_of_memory_runs_again_at_its_request():
    h = first_of_kind_metered("intelligence")
    second = h.submit(task("stress-b", **STRESS))
    h.run_launches(h.offers(h.offer("a2")))
    h.status(second, "FAILED", reason="out of memory: the container hit its limit of 220 MiB")
    assert h.scheduler.task(second).state is TaskState.FAILED
    [launch] = launches(h.offers(h.offer("a2")))
    [(again, spec)] = launch.tasks
    assert again != second and spec.mem == 1000  # berth's doing: relaunched, full size
    # ... and the kind is on its request for a while: a third one too.
    h.submit(task("stress-c", **STRESS))
    [launch] = launches(h.offers(h.offer("a3")))
    assert [s.mem for _, s in launch.tasks] == [1000]


async def test_the_live_framework_learns_kinds_from_pushed_metering(tmp_path):
    """`POST /v1/usage` is metering as the driver feeds it (`observe_usage`); `GET` shows
    what intelligence learned per kind."""
    import aiohttp

    from api.framework_server import start_framework

    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}",
                               strategy="intelligence")
    try:
        async with aiohttp.ClientSession() as http:
            ids = []
            for name in ("stress-a", "stress-b", "other"):
                args = ["--vm-bytes", "60M"] if name != "other" else ["--vm-bytes", "1M"]
                body = {"id": name, "dockerimage": "stress", "mem": 1000, "cpus": 1,
                        "arguments": args}
                async with http.post(f"{fw.url}/v1/tasks", json=body) as resp:
                    ids.append(resp.headers["Location"].removeprefix("/v1/tasks/"))
            samples = {"samples": [{"task_id": ids[0], "cpus": 0.2, "mem": 150},
                                   {"task_id": ids[1], "cpus": 0.1, "mem": 200},
                                   {"task_id": ids[2], "cpus": 0.5, "mem": 500}]}
            async with http.post(f"{fw.url}/v1/usage", json=samples) as resp:
                assert resp.status == 202
            async with http.get(f"{fw.url}/v1/usage") as resp:
                kinds = (await resp.json())["kinds"]
        # Two instances of the first kind metered: known; one of the other: not yet.
        assert kinds == [{"dockerimage": "stress", "arguments": ["--vm-bytes", "60M"],
                          "cpus": 1.0, "mem": 1000.0, "disk": 0.0, "peak_cpus": 0.2,
                          "peak_mem": 200.0}]
    finally:
        await fw.stop()
