"""Thread choice: the cores other processes keep busy are left alone; our own work is not counted.

Every test feeds fixed /proc samples (no sleeping, no real load), so the answers do not depend on
what else the machine is doing.
"""

from __future__ import annotations

import io
import time

import pytest

import ragtune.threads as policy
from ragtune.threads import busy_elsewhere, free_threads, threads_per_process

# /proc/stat "cpu" line: user nice system idle iowait irq softirq steal (guest fields follow, not summed)
PROC_STAT = "cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
# /proc/self/stat: fields 14 and 15 (utime, stime) are what we count as our own
PROC_SELF = "4242 (python -m (odd) name) R 1 2 3 4 5 6 7 8 9 10 {utime} {stime} 0 0 20 0 4 0\n"


class NoSleep:
    """``time`` for the module under test, without the sample's sleep."""

    def sleep(self, seconds: float) -> None:
        pass

    def __getattr__(self, name: str):
        return getattr(time, name)


def fake_proc(monkeypatch, samples):
    """Serve /proc/stat and /proc/self/stat from ``samples`` (a list of dicts), one dict per sample."""
    it = iter(samples)
    current = {}

    def fake_open(path, *a, **kw):
        if path == "/proc/stat":
            current.update(next(it))
            return io.StringIO(PROC_STAT.format(**current))
        if path == "/proc/self/stat":
            return io.StringIO(PROC_SELF.format(**current))
        raise AssertionError(f"unexpected open({path!r})")

    monkeypatch.setattr(policy, "open", fake_open, raising=False)
    monkeypatch.setattr(policy, "time", NoSleep())  # only this module's clock; the real one is untouched


def sample(busy: float, idle: float, own: float) -> dict:
    return {"user": busy * 0.75, "system": busy * 0.25, "idle": idle * 0.8, "iowait": idle * 0.2,
            "utime": own * 0.5, "stime": own * 0.5}


def test_cpu_times_parses_proc(monkeypatch):
    fake_proc(monkeypatch, [{"user": 100, "system": 50, "idle": 800, "iowait": 50, "utime": 7, "stime": 3}])
    # busy = user+nice+system+irq+softirq+steal, total includes idle and iowait; own = utime+stime
    assert policy._cpu_times() == (150.0, 1000.0, 10.0)


def test_cpu_times_is_none_without_proc(monkeypatch):
    def no_proc(path, *a, **kw):
        raise FileNotFoundError(path)

    monkeypatch.setattr(policy, "open", no_proc, raising=False)
    assert policy._cpu_times() is None


def test_another_process_holding_a_core_counts_as_busy(monkeypatch):
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 4)
    # 400 jiffies pass over 4 cores; 100 of them busy, none ours: one core's worth.
    fake_proc(monkeypatch, [sample(1000, 3000, 50), sample(1100, 3300, 50)])
    assert busy_elsewhere(0.25) == pytest.approx(1.0)


def test_our_own_work_is_left_out(monkeypatch):
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 4)
    # Same 100 busy jiffies, but 100 are this process's: nothing else is busy.
    fake_proc(monkeypatch, [sample(1000, 3000, 50), sample(1100, 3300, 150)])
    assert busy_elsewhere(0.25) == pytest.approx(0.0)
    # Half of it ours: half a core elsewhere.
    fake_proc(monkeypatch, [sample(1000, 3000, 50), sample(1100, 3300, 100)])
    assert busy_elsewhere(0.25) == pytest.approx(0.5)


def test_own_time_ahead_of_machine_time_is_clamped_to_zero(monkeypatch):
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 2)
    # Per-process and machine counters tick separately; ours can run slightly ahead.
    fake_proc(monkeypatch, [sample(1000, 1000, 0), sample(1010, 1090, 20)])
    assert busy_elsewhere(0.25) == 0.0


def test_no_progress_in_the_counters_is_unknown(monkeypatch):
    fake_proc(monkeypatch, [sample(1000, 1000, 0), sample(1000, 1000, 0)])
    assert busy_elsewhere(0.25) is None


def test_explicit_setting_wins(monkeypatch):
    monkeypatch.setattr(policy, "busy_elsewhere", lambda *a: pytest.fail("no sampling when threads are set"))
    assert free_threads(3) == 3
    assert free_threads(64) == 64


@pytest.mark.parametrize("others, cpus, expected", [
    (0.0, 4, 4),     # idle machine: every core
    (0.4, 4, 4),     # less than half a core busy rounds to none
    (0.6, 4, 3),     # more than half a core: leave it alone
    (1.0, 4, 3),
    (2.49, 4, 2),
    (3.9, 4, 1),     # never fewer than one thread
    (12.0, 4, 1),
    (1.0, 2, 1),     # the 2-core case from the docstring: other core loaded -> 1 thread
    (0.0, 1, 1),
])
def test_thread_count_for_a_given_sample(monkeypatch, others, cpus, expected):
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(policy, "busy_elsewhere", lambda *a: others)
    assert free_threads() == expected
    assert free_threads(0) == expected


def steady(busy_step: float, idle_step: float, own_step: float, windows: int = 3) -> list[dict]:
    """``windows`` equal windows: the counters advance by the same steps each time."""
    return [sample(1000 + i * busy_step, 1000 + i * idle_step, i * own_step) for i in range(windows + 1)]


def test_end_to_end_from_proc_samples(monkeypatch):
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 2)
    # Another process keeps one of two cores busy while we also work: one thread for us.
    fake_proc(monkeypatch, steady(150, 50, 50))
    assert free_threads() == 1
    # The same load, all of it ours: both cores.
    fake_proc(monkeypatch, steady(150, 50, 150))
    assert free_threads() == 2


def test_a_fresh_choice_reads_the_median_of_three_windows(monkeypatch):
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 2)
    # Idle, then a spike elsewhere filling both cores in one window, then idle: the spike does not decide.
    fake_proc(monkeypatch, [sample(1000, 1000, 0), sample(1000, 1200, 0), sample(1200, 1200, 0),
                            sample(1200, 1400, 0)])
    assert free_threads() == 2
    # Busy elsewhere in two of three windows: that is the load, one thread for us.
    fake_proc(monkeypatch, [sample(1000, 1000, 0), sample(1200, 1000, 0), sample(1200, 1200, 0),
                            sample(1400, 1200, 0)])
    assert free_threads() == 1


def test_busy_elsewhere_reads_one_reading_more_than_windows(monkeypatch):
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 4)
    # 0, 1 and 3 cores busy elsewhere in three windows of 400 jiffies: the median is 1.
    fake_proc(monkeypatch, [sample(0, 0, 0), sample(0, 400, 0), sample(100, 700, 0), sample(400, 800, 0)])
    assert busy_elsewhere(0.25, windows=3) == pytest.approx(1.0)


class FakeClock(NoSleep):
    """``time`` with a monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def proc_feed(monkeypatch, readings: list[dict]):
    """Serve /proc from a list the test appends to; each /proc/stat read takes the next reading."""
    state = {"i": 0, "cur": {}}

    def fake_open(path, *a, **kw):
        if path == "/proc/stat":
            state["cur"] = readings[state["i"]]
            state["i"] += 1
            return io.StringIO(PROC_STAT.format(**state["cur"]))
        if path == "/proc/self/stat":
            return io.StringIO(PROC_SELF.format(**state["cur"]))
        raise AssertionError(f"unexpected open({path!r})")

    monkeypatch.setattr(policy, "open", fake_open, raising=False)
    return state


def test_a_running_stage_rechecks_over_the_time_since_its_last_check(monkeypatch):
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(policy.os, "cpu_count", lambda: 4)
    clock = FakeClock()
    monkeypatch.setattr(policy, "time", clock)
    # Start: three idle windows (4 readings), then the policy's own mark (a fifth).
    readings = [sample(0, i * 400, 0) for i in range(4)] + [sample(0, 1600, 0)]
    state = proc_feed(monkeypatch, readings)
    tp = policy.ThreadPolicy(recheck_s=30)
    assert tp.n == 4 and state["i"] == 5
    # Before a check is due: no /proc read, the same count.
    clock.now += 10
    assert tp.current() == 4 and state["i"] == 5
    # 30 s (12000 jiffies on 4 cores) since the mark, half of them busy elsewhere: two cores are taken.
    clock.now += 20
    readings.append(sample(6000, 1600 + 6000, 0))
    assert tp.current() == 2
    # The next 30 s: ours ran 1000 jiffies and a 1 s spike filled all four cores (400): too brief to count.
    clock.now += 30
    readings.append(sample(6000 + 1400, 7600 + 10600, 1000))
    assert tp.current() == 4
    # Counters that did not move tell nothing: the count stays.
    clock.now += 30
    readings.append(readings[-1])
    assert tp.current() == 4
    assert tp.report() == {"threads": 4, "first": 4, "min": 2, "max": 4, "source": "auto", "rechecks": 2}


def test_a_setting_pins_the_count_and_nothing_is_sampled(monkeypatch):
    def no_proc(path, *a, **kw):
        raise AssertionError("a pinned count must not read /proc")

    monkeypatch.setattr(policy, "open", no_proc, raising=False)
    clock = FakeClock()
    monkeypatch.setattr(policy, "time", clock)
    tp = policy.ThreadPolicy(3, recheck_s=0)
    clock.now += 3600
    assert tp.current() == 3
    assert tp.report() == {"threads": 3, "first": 3, "min": 3, "max": 3, "source": "setting", "rechecks": 0}


def test_without_proc_the_first_choice_stays(monkeypatch):
    monkeypatch.setattr(policy.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(policy.os, "getloadavg", lambda: (1.0, 0.0, 0.0))

    def no_proc(path, *a, **kw):
        raise FileNotFoundError(path)

    monkeypatch.setattr(policy, "open", no_proc, raising=False)
    clock = FakeClock()
    monkeypatch.setattr(policy, "time", clock)
    tp = policy.ThreadPolicy(recheck_s=30)  # the load average decides the first choice
    clock.now += 60
    assert tp.n == 1 and tp.current() == 1 and tp.rechecks == 0


@pytest.mark.parametrize("requested, world, free, expected", [
    (3, 4, 8, 3),    # the setting wins, whatever the world size
    (0, 1, 4, 4),    # one process: every free core
    (0, 2, 4, 2),    # the free cores shared out between processes
    (0, 3, 4, 1),
    (0, 8, 4, 1),    # never fewer than one thread a process
])
def test_training_threads_share_the_free_cores(monkeypatch, requested, world, free, expected):
    monkeypatch.setattr(policy, "free_threads", lambda requested=0: requested or free)
    assert threads_per_process(requested, world) == expected


def test_torch_threads_sets_and_restores_the_count():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    with policy.torch_threads(want):
        assert torch.get_num_threads() == want
    assert torch.get_num_threads() == before
    with policy.torch_threads(0):  # 0 leaves the count alone
        assert torch.get_num_threads() == before
