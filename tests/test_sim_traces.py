"""Public trace readers: small hand-written samples of each format (the real traces are
not reachable here) turn into the expected workload and cluster, line by line; bad files
are named by file, line and column; `berth sim --trace` runs one end to end."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from offers.problems import SpecError
from offers.task import MIN_CPUS, TaskSpec
from simulator.traces import FORMATS, TraceError, parse_scale, parse_trace_option, read_trace
from simulator.traces.common import Scale

US = 1_000_000
WINDOW_OPENS = 600 * US  # a Google timestamp of 600 s is time 0 of the simulation
G = FORMATS["google2011"].scale


def g(seconds: float) -> int:
    """A Google timestamp (microseconds) for `seconds` into the window."""
    return int(WINDOW_OPENS + seconds * US)


def write(path: Path, lines: list[str], gzipped: bool = False) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def items(trace) -> list[tuple]:
    return [(i.spec.id, i.submit_at, i.duration, i.spec.cpus, i.spec.mem, i.spec.priority)
            for i in trace.workload]


def read(fmt: str, *paths: Path, horizon: float = 86400.0, scale: Scale | None = None):
    return read_trace(parse_trace_option(f"{fmt}:" + ",".join(map(str, paths))), horizon,
                      scale)


# -- Google 2011 ------------------------------------------------------------------------

# timestamp, missing, job, index, machine, type, user, class, priority, cpu, mem, disk, diff
TASK_EVENTS_2011 = [
    "0,,1,0,,0,u1,0,5,0.1,0.05,0.001,0",  # before the window: submitted at 0
    "0,,1,0,7,1,u1,0,5,,,,",  # ... and running
    f"{g(100)},,1,0,7,4,u1,0,5,,,,",  # FINISH: ran 100 s
    f"{g(200)},,2,3,,0,u2,1,9,0.25,0.5,,1",  # SUBMIT
    f"{g(300)},,2,3,8,1,u2,1,9,,,,",  # SCHEDULE
    f"{g(400)},,2,3,8,2,u2,1,9,,,,",  # EVICT: the run ends, the work does not
    f"{g(500)},,2,3,,0,u2,1,10,0.25,0.5,,1",  # SUBMIT again (priority raised)
    f"{g(600)},,2,3,8,1,u2,1,10,,,,",  # SCHEDULE
    f"{g(900)},,2,3,8,4,u2,1,10,,,,",  # FINISH: its last run took 300 s
    f"{g(250)},,3,0,,0,u3,0,0,0.0001,0.00001,,",  # SUBMIT, tiny request...
    f"{g(260)},,3,0,,5,u3,0,0,,,,",  # ... KILLed while pending: never ran, left out
    f"{g(1000)},,4,1,,0,u4,2,2,0.5,0.25,,",  # SUBMIT
    f"{g(1010)},,4,1,,7,u4,2,2,0.75,0.5,,",  # UPDATE_PENDING: a bigger request
    f"{g(1020)},,4,1,9,1,u4,2,2,,,,",  # SCHEDULE, runs past the window
    f"{g(1100)},,5,0,,0,u5,0,1,0.125,0.125,,",  # SUBMIT
    f"{g(1100)},,5,0,9,1,u5,0,1,,,,",  # SCHEDULE
    f"{g(1150)},,5,0,9,3,u5,0,1,,,,",  # FAIL after 50 s
    f"{g(1200)},,5,0,,0,u5,0,1,0.125,0.125,,",  # submitted again: a new berth task
    f"{g(1200)},,5,0,9,1,u5,0,1,,,,",
    f"{g(1230)},,5,0,9,4,u5,0,1,,,,",  # FINISH after 30 s
    f"{g(99999)},,6,0,,0,u6,0,1,0.1,0.1,,",  # after the window: the part ends here
    "not even looked at: the parts are in time order",
]
MACHINE_EVENTS_2011 = [
    "0,7,0,platA,0.5,0.25",
    "0,8,0,platB,1,1",
    "0,9,0,platA,,",  # no capacity given: left out
    f"{g(50)},7,2,platA,0.75,0.25",  # UPDATE: the last capacity counts
    f"{g(60)},8,1,,,",  # REMOVE: counted, the node stays
]


def expected_2011() -> list[tuple]:
    return [
        ("1-0", 0.0, 100.0, 0.1 * 32, 0.05 * 131072, 5),
        ("2-3", 200.0, 300.0, 0.25 * 32, 0.5 * 131072, 10),
        ("4-1", 1000.0, None, 0.75 * 32, 0.5 * 131072, 2),
        ("5-0", 1100.0, 50.0, 4.0, 16384.0, 1),
        ("5-0.1", 1200.0, 30.0, 4.0, 16384.0, 1),
    ]


def test_google2011_task_events_map_to_one_task_per_run_to_its_end(tmp_path):
    tasks = write(tmp_path / "task_events" / "part-00000-of-00500.csv", TASK_EVENTS_2011)
    machines = write(tmp_path / "machine_events" / "part-00000-of-00001.csv",
                     MACHINE_EVENTS_2011)
    trace = read("google2011", tasks, machines, horizon=3600)
    assert items(trace) == expected_2011()
    first = trace.workload[0]
    assert first.spec.dockerimage == "trace/google2011" and first.spec.arguments == ("job-1",)
    assert trace.counts == {
        "left out: ended without running": 1,
        "runs interrupted (evicted or lost), resubmitted as one": 1,
        "left out: machines without a capacity": 1,
        "machine removals (not simulated: the node stays)": 1,
    }
    assert [(n.hostname, n.cpus, n.mem, n.attributes) for n in trace.nodes] == [
        ("m7", 24.0, 32768.0, {"platform": "platA"}),
        ("m8", 32.0, 131072.0, {"platform": "platB"}),
    ]


def test_gzip_parts_read_like_plain_ones_and_a_folder_is_its_tables_files(tmp_path):
    write(tmp_path / "t" / "task_events" / "part-00000-of-00002.csv.gz",
          TASK_EVENTS_2011[:9], gzipped=True)
    write(tmp_path / "t" / "task_events" / "part-00001-of-00002.csv.gz",
          TASK_EVENTS_2011[9:], gzipped=True)
    write(tmp_path / "t" / "machine_events" / "part-00000-of-00001.csv.gz",
          MACHINE_EVENTS_2011, gzipped=True)
    write(tmp_path / "t" / "task_usage" / "part-00000-of-00500.csv.gz", ["x"], gzipped=True)
    write(tmp_path / "t" / "SHA256SUM", ["not a table"])
    trace = read("google2011", tmp_path / "t", horizon=3600)
    assert items(trace) == expected_2011()
    assert len(trace.nodes) == 2


def test_a_bad_machine_line_is_named_too(tmp_path):
    tasks = write(tmp_path / "task_events.csv", TASK_EVENTS_2011)
    machines = write(tmp_path / "machine_events.csv", ["0,7,0,platA,half,0.25"])
    with pytest.raises(TraceError) as info:
        read("google2011", tasks, machines)
    assert f"{machines}:1: column 5 (CPUs): 'half' is not a number" in str(info.value)
    meta = write(tmp_path / "machine_meta.csv", ["m_1,0,1,a,96", "m_2,0,1,a,96,101,USING"])
    with pytest.raises(TraceError) as info:
        read("alibaba2018", write(tmp_path / "batch_task.csv", BATCH_TASK), meta)
    assert str(info.value).splitlines() == [
        f"{meta}:1: column 6 (mem_size): missing: the line has 5 columns, the table 7",
        f"{meta}:2: column 6 (mem_size): 101 is out of range (0 to 100)"]


def test_the_reference_machine_scales_normalized_sizes_and_tiny_requests_are_raised(
        tmp_path):
    tasks = write(tmp_path / "task_events.csv", [
        "0,,1,0,,0,u,0,0,0.0001,0.00001,,", "0,,1,0,,1,u,0,0,,,,",
        f"{g(10)},,1,0,,4,u,0,0,,,,", f"{g(10)},,2,0,,0,u,0,0,0.5,0.5,,",
        f"{g(10)},,2,0,,1,u,0,0,,,,"])
    trace = read("google2011", tasks, scale=Scale(cpus=8, mem=1000))
    assert [(i.spec.cpus, i.spec.mem) for i in trace.workload] == [(MIN_CPUS, 4.0),
                                                                     (4.0, 500.0)]
    assert trace.nodes is None  # no machine table given
    assert parse_scale("mem:2048", G) == Scale(cpus=32, mem=2048)
    with pytest.raises(SpecError):
        parse_scale("cpus:-1", G)


# -- Google 2019 ------------------------------------------------------------------------

def ev(t: float, kind, job: int, index: int, **more) -> str:
    """An instance_events line as BigQuery exports it: 64-bit integers as strings."""
    return json.dumps({"time": str(g(t)) if t >= 0 else "0", "type": kind,
                       "collection_id": str(job), "instance_index": index,
                       "collection_type": 0, **more})


INSTANCE_EVENTS_2019 = [
    # out of time order, as an export is
    ev(300, "SCHEDULE", 20, 3, priority=200, machine_id="8"),
    ev(200, 0, 20, 3, priority=200, resource_request={"cpus": 0.25, "memory": 0.5}),
    ev(900, 6, 20, 3, priority=360),
    ev(-1, "SUBMIT", 10, 0, priority=100, resource_request={"cpus": 0.1, "memory": 0.05}),
    ev(-1, "SCHEDULE", 10, 0, priority=100),
    ev(400, "EVICT", 20, 3, priority=200),
    ev(500, "SUBMIT", 20, 3, priority=360, resource_request={"cpus": 0.25, "memory": 0.5}),
    ev(600, "SCHEDULE", 20, 3, priority=360),
    ev(100, "FINISH", 10, 0, priority=100),
    ev(150, "QUEUE", 30, 0, priority=0),
    ev(140, "SUBMIT", 30, 0, priority=0, resource_request={"cpus": 0.1, "memory": 0.1}),
    json.dumps({"time": str(g(150)), "type": 0, "collection_id": "40", "instance_index": 0,
                "collection_type": "ALLOC_SET",
                "resource_request": {"cpus": 0.5, "memory": 0.5}}),
]
MACHINE_EVENTS_2019 = [
    json.dumps({"time": "0", "machine_id": "8", "type": 1, "platform_id": "p1",
                "capacity": {"cpus": 0.5, "memory": 0.25}}),
    json.dumps({"time": str(g(10)), "machine_id": "9", "type": "ADD",
                "capacity": {"cpus": 1.0, "memory": 1.0}}),
    json.dumps({"time": str(g(5)), "machine_id": "8", "type": 3,
                "capacity": {"cpus": 1.0}}),  # UPDATE of the cpus alone
]


def test_google2019_json_events_map_like_2011_whatever_their_order(tmp_path):
    tasks = write(tmp_path / "instance_events-000000000000.json", INSTANCE_EVENTS_2019)
    machines = write(tmp_path / "machine_events-000000000000.json.gz", MACHINE_EVENTS_2019,
                     gzipped=True)
    trace = read("google2019", tasks, machines, horizon=3600)
    assert items(trace) == [
        ("10-0", 0.0, 100.0, 0.1 * 32, 0.05 * 131072, 100),
        ("30-0", 140.0, None, 3.2, 13107.2, 0),  # queued, never ran: waits past the end
        ("20-3", 200.0, 300.0, 8.0, 65536.0, 360),
    ]
    assert trace.workload[0].spec.arguments == ("collection-10",)
    assert trace.counts["left out: alloc instance events (reservations, not tasks)"] == 1
    assert [(n.hostname, n.cpus, n.mem, n.attributes) for n in trace.nodes] == [
        ("m8", 32.0, 32768.0, {"platform": "p1"}), ("m9", 32.0, 131072.0, {})]


# -- Alibaba 2018 -----------------------------------------------------------------------

# task_name, instance_num, job_name, task_type, status, start, end, plan_cpu, plan_mem
BATCH_TASK = [
    "R2_1,1,j_2,1,Terminated,500,560,50,0.5",
    "M1,3,j_1,1,Terminated,100,190,100,1.0",
    "task_Nzg3ODAw=,1,j_3,12,Running,300,0,200,2",
    "M2,5,j_4,1,Waiting,400,0,100,1",  # never started: left out
    "M1,1,j_5,1,Terminated,99999,100000,100,1",  # after the window
    "M3,2,j_6,1,Failed,700,650,100,1",  # ends before it starts: left out
]
MACHINE_META = [
    "m_2,0,1,a,96,100,USING",
    "m_1,0,2,b,64,50,USING",
    "m_1,3000,2,b,96,50,USING",  # the last capacity in the window counts
    "m_1,90000,2,b,128,50,USING",  # after the window
]


def test_alibaba_batch_tasks_become_one_berth_task_per_instance(tmp_path):
    tasks = write(tmp_path / "batch_task.csv", BATCH_TASK)
    machines = write(tmp_path / "machine_meta.csv", MACHINE_META)
    trace = read("alibaba2018", tasks, machines, horizon=3600)
    mib = 524288 / 100
    assert items(trace) == [
        ("j_1.M1.0", 100.0, 90.0, 1.0, 1.0 * mib, 0),
        ("j_1.M1.1", 100.0, 90.0, 1.0, 1.0 * mib, 0),
        ("j_1.M1.2", 100.0, 90.0, 1.0, 1.0 * mib, 0),
        ("j_3.task_Nzg3ODAw_", 300.0, None, 2.0, 2 * mib, 0),
        ("j_2.R2_1", 500.0, 60.0, 0.5, 0.5 * mib, 0),
    ]
    assert trace.workload[0].spec.arguments == ("j_1", "M1")
    assert trace.counts == {"left out: tasks not started (Waiting, Ready)": 1,
                            "left out: end_time before start_time": 1}
    assert [(n.hostname, n.cpus, n.mem, n.attributes) for n in trace.nodes] == [
        ("m_2", 96.0, 524288.0, {"failure_domain_1": "1", "failure_domain_2": "a"}),
        ("m_1", 96.0, 262144.0, {"failure_domain_1": "2", "failure_domain_2": "b"})]


# -- Azure ------------------------------------------------------------------------------

# vmid, subscription, deployment, created, deleted, max, avg, p95, category, cores, GB
VMTABLE = [
    "x/Vm1+=,sub1,dep1,0,3600,90,25,80,Interactive,2,4",
    "x/Vm2+=,sub1,dep2,300,900,50,10,40,Delay-insensitive,>24,>64",
    "x/Vm3+=,sub2,dep3,600,300,50,10,40,Unknown,2,4",  # deleted before created
]


def test_azure_vms_map_with_their_average_use_and_no_cluster(tmp_path):
    trace = read("azure", write(tmp_path / "vmtable.csv.gz", VMTABLE, gzipped=True))
    assert items(trace) == [("vm1", 0.0, 3600.0, 2.0, 4096.0, 0),
                            ("vm2", 300.0, 600.0, 24.0, 65536.0, 0)]
    assert trace.workload[0].used == (0.5, 4096.0)
    assert trace.workload[1].spec.arguments == ("dep2", "Delay-insensitive")
    assert trace.nodes is None
    assert trace.counts == {"left out: deleted before created": 1}


# -- bad input --------------------------------------------------------------------------

BAD_CASES = [
    ("google2011", "task_events.csv", ["0,,1,0,,0,u,0,5,0.1,0.1,,0", "0,,1,0,,1,u,0"],
     ":2: column 9 (priority): missing: the line has 8 columns"),
    ("google2011", "task_events.csv", ["0,,1,0,,0,u,0,5,lots,0.1,,0"],
     ":1: column 10 (CPU request): 'lots' is not a number"),
    ("google2011", "task_events.csv", ["0,,1,0,,12,u,0,5,0.1,0.1,,0"],
     ":1: column 6 (event type): 12 is out of range (0 to 8)"),
    ("google2011", "task_events.csv", [",,1,0,,1,u,0,5,0.1,0.1,,0"],
     ":1: column 1 (timestamp): empty, but the column is mandatory"),
    ("google2019", "instance_events.json", ['{"time": "0", "type": 0, "collection_id": "1"}'],
     ":1: instance_index: missing, but the field is mandatory"),
    ("google2019", "instance_events.json",
     ['{"time": "0", "type": "START", "collection_id": "1", "instance_index": 0}'],
     ":1: type: 'START' is not a whole number or one of SUBMIT"),
    ("google2019", "instance_events.json",
     ['{"time": "0", "type": 0, "collection_id": "1", "instance_index": 0, '
      '"resource_request": {"cpus": -1}}'],
     ":1: resource_request.cpus: -1 is not a non-negative number"),
    ("google2019", "instance_events.json", ['{"time": 0,'],
     ":1: character 12: not JSON"),
    ("alibaba2018", "batch_task.csv", ["M1,1,j_1,1,Terminated,100,190,100"],
     ":1: column 9 (plan_mem): missing: the line has 8 columns"),
    ("alibaba2018", "batch_task.csv", ["M1,1,j_1,1,Terminated,100,190,100,150"],
     ":1: column 9 (plan_mem): 150 is out of range (0 to 100)"),
    ("azure", "vmtable.csv", ["v,s,d,0,10,1,1,1,Unknown,two,4"],
     ":1: column 10 (vm virtual core count): 'two' is not a size bucket such as 8 or >24"),
    ("azure", "vmtable.csv", ["v,s,d,0,10,1,1,1,Unknown,2,4,extra"],
     ":1: column 12: unexpected: the line has 12 columns, the table 11"),
]


@pytest.mark.parametrize(("fmt", "name", "lines", "message"), BAD_CASES)
def test_a_bad_trace_line_is_named_by_file_line_and_column(tmp_path, fmt, name, lines,
                                                            message):
    path = write(tmp_path / name, lines)
    with pytest.raises(TraceError) as info:
        read(fmt, path)
    assert f"{path}{message}" in str(info.value)


def test_a_truncated_gzip_part_is_an_error_not_a_short_trace(tmp_path):
    path = tmp_path / "task_events.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(TASK_EVENTS_2011[:9]) + "\n").encode())[:-12])
    with pytest.raises(TraceError) as info:
        read("google2011", path)
    assert str(path) in str(info.value) and "cannot read on" in str(info.value)


def test_trace_option_problems_name_the_option(tmp_path):
    empty = tmp_path / "empty"
    write(empty / "README", ["a folder without any table"])
    for text, words in [("google2012:x", "FORMAT one of"),
                        (f"google2011:{tmp_path}/nope.csv", "no such file"),
                        (f"google2011:{empty}", "no file of the tables"),
                        (f"google2011:{write(tmp_path / 'x.csv', [])}", "cannot tell which"),
                        (f"google2011:{write(tmp_path / 'machine_events.csv', [])}",
                         "needs its task_events")]:
        with pytest.raises(SpecError) as info:
            parse_trace_option(text)
        assert words in str(info.value.problems[0])
    named = parse_trace_option(f"google2011:task_events={tmp_path / 'x.csv'}")
    assert named.tables == {"task_events": [tmp_path / "x.csv"]}


# -- berth sim --trace ------------------------------------------------------------------

def test_berth_sim_runs_a_google_trace_and_writes_its_report(tmp_path):
    tasks = write(tmp_path / "task_events.csv.gz", TASK_EVENTS_2011, gzipped=True)
    machines = write(tmp_path / "machine_events.csv", MACHINE_EVENTS_2011)
    report = tmp_path / "report"
    result = CliRunner().invoke(main, ["sim", "--trace", f"google2011:{tasks},{machines}",
                                       "--duration", "3600", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "trace google2011: 5 tasks, 2 machines" in result.output
    summary = json.loads((report / "summary.json").read_text())
    assert (summary["nodes"], summary["workload_tasks"], summary["submitted"]) == (2, 5, 5)
    assert summary["tasks"]["finished"] == 4 and summary["tasks"]["running_at_end"] == 1
    assert (report / "report.md").exists()


def test_berth_sim_with_an_azure_trace_takes_its_cluster_from_nodes(tmp_path):
    vms = write(tmp_path / "vmtable.csv", VMTABLE)
    report = tmp_path / "report"
    no_cluster = CliRunner().invoke(main, ["sim", "--trace", f"azure:{vms}", "--report",
                                           str(report)])
    assert no_cluster.exit_code != 0 and "--nodes N" in no_cluster.output
    result = CliRunner().invoke(main, ["sim", "--trace", f"azure:{vms}", "--nodes", "2",
                                       "--duration", "7200", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert json.loads((report / "summary.json").read_text())["workload_tasks"] == 2


def test_berth_sim_with_a_bad_trace_exits_nonzero_and_writes_nothing(tmp_path):
    tasks = write(tmp_path / "task_events.csv", TASK_EVENTS_2011[:3] + ["0,,1,0,,x,u,0,5,0.1,0.1,,"])
    report = tmp_path / "report"
    result = CliRunner().invoke(main, ["sim", "--trace", f"google2011:{tasks}", "--nodes",
                                       "2", "--report", str(report)])
    assert result.exit_code == 2
    assert f"{tasks}:4: column 6 (event type): 'x' is not a whole number" in result.output
    assert not report.exists() and list(tmp_path.iterdir()) == [tasks]


# -- well-formed rows always map to valid workload entries ------------------------------

HORIZON = 5000.0
fraction = st.one_of(st.just(""), st.floats(0, 1).map(repr))
google_event = st.tuples(
    st.integers(0, 6000), st.integers(0, 3), st.integers(0, 2), st.integers(0, 8),
    st.integers(0, 11), fraction, fraction)


def google2011_lines(events: list[tuple]) -> list[str]:
    events = sorted(events, key=lambda e: e[0])  # the parts are in time order
    return [f"{g(t) if t else 0},,{job},{index},,{kind},u,0,{priority},{cpu},{mem},,"
            for t, job, index, kind, priority, cpu, mem in events]


def google2019_lines(events: list[tuple]) -> list[str]:
    out = []
    for t, job, index, kind, priority, cpu, mem in events:
        request = {k: float(v) for k, v in (("cpus", cpu), ("memory", mem)) if v}
        out.append(json.dumps({"time": str(g(t) if t else 0), "type": kind + (kind > 0) * 2,
                               "collection_id": str(job), "instance_index": index,
                               "priority": priority, "resource_request": request}))
    return out


alibaba_row = st.tuples(
    st.sampled_from(["M1", "R2_1", "task_Nz+/=="]), st.integers(0, 4),
    st.sampled_from(["j_1", "j_2"]), st.sampled_from(["Terminated", "Failed", "Running",
                                                      "Waiting", "Cancelled", "Ready"]),
    st.integers(0, 6000), st.integers(0, 7000), st.one_of(st.just(""),
                                                           st.integers(0, 10**6).map(str)),
    st.one_of(st.just(""), st.floats(0, 100).map(repr)))
azure_row = st.tuples(
    st.integers(0, 6000), st.integers(0, 7000), st.floats(0, 100), st.floats(0, 100),
    st.sampled_from(["1", "2", "4", "8", "24", ">24"]),
    st.sampled_from(["0.75", "2", "4", "8", "32", "64", ">64"]))


def alibaba_lines(rows: list[tuple]) -> list[str]:
    # task names are unique within a job, as the schema says
    seen = {(r[0], r[2]): r for r in rows}
    return [f"{n},{k},{j},1,{s},{a},{b},{c},{m}" for n, k, j, s, a, b, c, m in seen.values()]


def azure_lines(rows: list[tuple]) -> list[str]:
    return [f"v,s,d,{a},{b},{mx},{avg},{mx},Unknown,{c},{m}" for a, b, mx, avg, c, m in rows]


CASES = {
    "google2011": ("task_events.csv", google_event, google2011_lines),
    "google2019": ("instance_events.json", google_event, google2019_lines),
    "alibaba2018": ("batch_task.csv", alibaba_row, alibaba_lines),
    "azure": ("vmtable.csv", azure_row, azure_lines),
}


@pytest.mark.parametrize("fmt", list(CASES))
def test_well_formed_rows_always_map_to_valid_workload_entries(fmt):
    name, row, to_lines = CASES[fmt]

    @settings(max_examples=40, deadline=None)
    @given(st.lists(row, max_size=30))
    def check(rows):
        with tempfile.TemporaryDirectory() as folder:
            trace = read(fmt, write(Path(folder) / name, to_lines(rows)), horizon=HORIZON)
            work = list(trace.workload)
        assert len({i.spec.id for i in work}) == len(work)
        assert [i.submit_at for i in work] == sorted(i.submit_at for i in work)
        for item in work:
            assert TaskSpec.model_validate(item.spec.model_dump()) == item.spec
            assert 0 <= item.submit_at <= HORIZON
            assert item.duration is None or item.duration >= 1.0
            assert item.used is None or min(item.used) >= 0

    check()
