"""Several worker processes on one port, sharing a real Redis (docs/deploy.md): a class
whose teacher and students are on different workers, a late joiner and a copy there, a
student's answer to the teacher's lesson step counted, a worker killed mid-class, Redis
restarting.

Real processes: ``redis-server`` (Debian's package, installed by ``make test``) on a
free loopback port, and ``python -m server.serve`` with ``BPL_WORKERS=2``; each socket
is opened until it lands on the worker a test wants (``x-bpl-worker`` names it)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.net import free_ports, poll
from tests.helpers.site import ROOT, Client, Msg, Redis, Site


@pytest.fixture(scope="module")
def site(redis: Redis) -> Iterator[Site]:
    s = Site(redis)
    try:
        yield s
    finally:
        s.close()


def open_class(site: Site) -> tuple[Client, Client, str, str]:
    """A teacher sharing a run and a student on the other worker following it:
    ``(teacher, student, code, key)``."""
    teacher = site.socket(lambda w: True)
    student = site.socket(lambda w: w != teacher.worker)
    teacher.send({"type": "hello", "batch": True})
    teacher.session = teacher.recv_type("run")["session"]
    teacher.send({"type": "share"})
    shared = teacher.recv_type("share", where=lambda m: m["code"] is not None)
    code, key = shared["code"], shared["key"]
    student.send({"type": "hello", "batch": True, "follow": code})
    assert student.recv_type("follow")["active"] is True
    assert student.recv_type("run")["session"] is None
    teacher.recv_type("share", where=lambda m: m["followers"] == 1)
    return teacher, student, code, key


def step(client: Client, n: int = 1) -> None:
    for _ in range(n):
        client.send({"type": "step", "unit": "iteration"})


def same_frames(a: dict[str, Msg], b: dict[str, Msg]) -> None:
    for phase in ("forward", "loss", "backward", "update"):
        assert a[phase]["values"] == b[phase]["values"], phase


def test_a_teacher_and_students_on_other_workers_follow_the_same_run(site: Site) -> None:
    teacher, student, code, _ = open_class(site)
    try:
        assert teacher.worker != student.worker
        step(teacher, 3)
        seen = {it: teacher.frames_of(it) for it in range(3)}
        for it in range(3):
            same_frames(seen[it], student.frames_of(it))
        # a late joiner on the student's worker gets the greeting: the run as it is now
        late = site.socket(lambda w: w == student.worker)
        late.send({"type": "hello", "batch": True, "follow": code.lower()})
        assert late.recv_type("follow")["code"] == code
        run = late.recv_type("run")
        assert run["session"] is None and run["state"]["iteration"] == 3
        timeline = late.recv_type("timeline")
        assert timeline["iteration"] == 3
        same_frames(late.frames_of(2), seen[2])
        teacher.send({"type": "hello", "batch": True})  # the teacher's own redraw
        mine = teacher.recv_type("run")
        assert run["params"] == mine["params"] and run["data"] == mine["data"]
        teacher.recv_type("share", where=lambda m: m["followers"] == 2)
        # what the teacher does next reaches both, the same numbers
        step(teacher)
        same_frames(late.frames_of(3), student.frames_of(3))
        # a student's command cannot change the class
        student.send({"type": "step", "unit": "iteration"})
        assert student.recv_type("error")["code"] == "read_only"
        late.close()
    finally:
        teacher.close()
        student.close()


def test_a_students_answer_on_another_worker_counts_on_the_teachers_screen(site: Site) -> None:
    teacher, student, _, _ = open_class(site)
    try:
        teacher.send({"type": "lesson", "id": "one-neuron", "step": 3})
        assert student.recv_type("lesson_step")["step_id"] == "gradient-sign"
        teacher.recv_type("lesson_answers", where=lambda m: m["answered"] == 0)
        student.send({"type": "lesson", "id": "one-neuron", "step": 3, "action": "check",
                      "prediction": "neg"})
        assert student.recv_type("lesson_recorded")["prediction"] == "neg"  # not judged yet
        got = teacher.recv_type("lesson_answers", where=lambda m: m["answered"] == 1)
        assert got["counts"] == {"pos": 0, "zero": 0, "neg": 1} and got["followers"] == 1
    finally:
        teacher.close()
        student.close()


def test_a_copy_made_on_another_worker_has_the_teachers_weights(site: Site) -> None:
    teacher, student, _, _ = open_class(site)
    try:
        step(teacher, 4)
        teacher.send({"type": "set", "lr": 0.3})
        step(teacher, 2)
        student.frames_of(5)
        student.send({"type": "fork"})
        assert student.recv_type("follow", where=lambda m: not m["active"])["reason"] == "forked"
        copy = student.recv_type("run")
        assert copy["session"] and copy["config"]["lr"] == 0.3
        assert copy["state"]["iteration"] == 6
        teacher.send({"type": "hello", "batch": True})
        assert copy["params"] == teacher.recv_type("run")["params"]
        # the copy is the student's own: it steps, and the teacher's run stays put
        step(student)
        assert student.recv_type("state", where=lambda m: m["iteration"] == 7)
        teacher.send({"type": "pause"})
        assert teacher.recv_type("state")["iteration"] == 6
    finally:
        teacher.close()
        student.close()


def test_a_worker_killed_mid_class_comes_back_and_the_class_goes_on(site: Site) -> None:
    teacher, student, code, key = open_class(site)
    # a student on the teacher's worker too (with two workers, half a class is)
    mate = site.socket(lambda w: w == teacher.worker)
    mate.send({"type": "hello", "batch": True, "follow": code})
    assert mate.recv_type("follow")["active"] is True
    again: Client | None = None
    try:
        step(teacher, 2)
        student.frames_of(1)
        saved = teacher.recv_type("save", where=lambda m: m["run"]["position"]["iteration"] == 2)
        dead = teacher.worker
        os.kill(teacher.pid, signal.SIGKILL)
        # that student's page reconnects at once, on the worker left, before the teacher's:
        # the class's code still names the dead worker, which does not answer; the page
        # waits for its class (it was told "this is a run of your own", and stayed so)
        mate.close()
        again = site.socket(lambda w: w == student.worker)
        again.send({"type": "hello", "batch": True, "follow": code})
        # the supervisor starts the worker again: same index, a new process
        poll(lambda: any(w.startswith(f"{teacher.index}-") and w != dead
                         for w in site.workers(8)), 20, "the killed worker to come back")
        # the teacher's page comes back (anywhere): its run from its copy, then its class
        back = site.socket(lambda w: True)
        back.send({"type": "hello", "batch": True, "session": teacher.session})
        assert back.recv_type("run")["unknown_session"] is True
        back.send({"type": "load", "run": saved["run"]})
        assert back.recv_type("run")["state"]["iteration"] == 2
        back.send({"type": "share", "code": code, "key": key})
        assert back.recv_type("share", where=lambda m: m["code"] is not None)["code"] == code
        # the student, who never left, is redrawn from the run restored and follows on
        redrawn = student.recv_type("run", timeout=15)
        assert redrawn["state"]["iteration"] == 2
        step(back)
        same_frames(back.frames_of(2), student.frames_of(2))
        got = []
        while not (got and got[-1]["type"] == "follow"):
            got.append(again.recv(15))
        assert got[-1]["active"] is True, got
        assert [m for m in got if m["type"] == "error"] == []
        assert again.recv_type("run", timeout=15)["state"]["iteration"] >= 2
        back.close()
    finally:
        teacher.close()
        student.close()
        if again is not None:
            again.close()


def test_a_student_knowing_the_code_cannot_take_the_class(site: Site) -> None:
    teacher, student, code, _ = open_class(site)
    try:
        thief = site.socket(lambda w: w != teacher.worker)
        thief.send({"type": "hello", "batch": True})
        thief.recv_type("run")
        thief.send({"type": "share", "code": code, "key": "not-the-key-at-all"})
        got = thief.recv_type("share", where=lambda m: m["code"] is not None)["code"]
        assert got != code
        step(teacher)
        student.frames_of(0)
        thief.close()
    finally:
        teacher.close()
        student.close()


def test_redis_restarting_keeps_runs_and_the_class_resumes(site: Site, redis: Redis) -> None:
    teacher, student, _, _ = open_class(site)
    solo = site.socket(lambda w: True)
    try:
        solo.send({"type": "hello", "batch": True})
        solo.recv_type("run")
        step(teacher)
        student.frames_of(0)
        redis.stop()
        for i in (0, 1):
            poll(lambda i=i: "bpl_redis_up{" in site.on(i, "/metrics")
                 and re.search(r"bpl_redis_up\{[^}]*\} 0", site.on(i, "/metrics")),
                 10, "the workers to see Redis gone")
            ready = json.loads(site.on(i, "/readyz"))
            assert ready["ready"] is True and ready["redis"] is False
        # a learner's run is its worker's own: it goes on
        step(solo, 3)
        assert solo.recv_type("state", where=lambda m: m["iteration"] == 3)
        redis.start()
        for i in (0, 1):
            poll(lambda i=i: re.search(r"bpl_redis_up\{[^}]*\} 1", site.on(i, "/metrics")),
                 15, "the workers to reconnect")
        # the class comes back: the student is redrawn, then follows the teacher again
        student.recv_type("run", timeout=15)
        step(teacher)
        same_frames(teacher.frames_of(1), student.frames_of(1))
    finally:
        solo.close()
        teacher.close()
        student.close()


def test_a_download_that_lands_on_another_worker_is_answered(site: Site) -> None:
    learner = site.socket(lambda w: True)
    try:
        learner.send({"type": "hello", "batch": True})
        session = learner.recv_type("run")["session"]
        step(learner, 5)
        learner.recv_type("state", where=lambda m: m["iteration"] == 5)
        other = 1 - learner.index

        def post_on_other() -> tuple[str, Any] | None:
            req = urllib.request.Request(f"http://127.0.0.1:{site.port}/runs/run.json",
                                         data=f"session={session}".encode(), method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                worker = r.headers["x-bpl-worker"]
                return (worker, json.loads(r.read())) if worker.startswith(f"{other}-") \
                    else None

        _, run = poll(post_on_other, 10, "a download on the other worker", every=0)
        assert run["format"] == "backprop-lab-run" and run["branches"][0]["length"] == 5
        # an id no worker holds is still 404, wherever it lands
        req = urllib.request.Request(f"http://127.0.0.1:{site.port}/runs/weights.csv",
                                     data=b"session=" + b"x" * 16, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 404
    finally:
        learner.close()


def test_a_class_full_on_every_worker_together_refuses_the_next_student(redis: Redis) -> None:
    """max_followers counts the class's followers on every worker: past it, a student on
    either worker is told and gets a run of their own."""
    small = Site(redis, env={"BPL_MAX_FOLLOWERS": "2"})
    clients: list[Client] = []
    try:
        teacher, first, code, _ = open_class(small)  # a student on the other worker
        clients += [teacher, first]
        here = small.socket(lambda w: w == teacher.worker)
        clients.append(here)
        here.send({"type": "hello", "batch": True, "follow": code})
        assert here.recv_type("follow")["active"] is True
        teacher.recv_type("share", where=lambda m: m["followers"] == 2)
        for where in (lambda w: w != teacher.worker, lambda w: w == teacher.worker):
            late = small.socket(where)
            clients.append(late)
            late.send({"type": "hello", "batch": True, "follow": code})
            err = late.recv_type("error")
            assert err["code"] == "limit" and err["limit"] == "max_followers"
            assert late.recv_type("run")["session"]  # a run of its own instead
        # the two who came first still follow the class
        step(teacher)
        seen = teacher.frames_of(0)
        same_frames(seen, first.frames_of(0))
        same_frames(seen, here.frames_of(0))
    finally:
        for c in clients:
            c.close()
        small.close()


def test_each_worker_answers_its_metrics_on_a_port_of_its_own(redis: Redis) -> None:
    """The shared port's /metrics comes from whichever worker the kernel picks; with
    BPL_METRICS_PORT each worker answers on a port of its own (docs/deploy.md, "Watching
    it"), every series, ``process_*`` too, labelled with its name; that port serves only
    the operator's endpoints."""
    base = free_ports(2)
    site = Site(redis, env={"BPL_METRICS_PORT": str(base)})
    try:
        names = []
        for i in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{base + i}/metrics", timeout=5) as r:
                worker, text = r.headers["x-bpl-worker"], r.read().decode()
            assert worker.startswith(f"{i}-"), worker
            samples = [x for f in text_string_to_metric_families(text) for x in f.samples]
            mine = [x for x in samples if x.name.startswith(("bpl_", "process_"))]
            assert {x.name for x in mine} >= {"bpl_sessions", "process_cpu_seconds_total"}
            assert all(x.labels["worker"] == worker for x in mine)
            names.append(worker)
        assert names[0] != names[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{base + 1}/readyz", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["worker"] == names[1]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{base}/", timeout=5)
        assert e.value.code == 404  # (the page is the site's port's)
        # asked by an address it answers; by a name, refused (a name re-pointed at this
        # machine by an attacker's page: DNS rebinding)
        for host, status in ((f"localhost:{base}", 200), ("rebind.example", 400)):
            req = urllib.request.Request(f"http://127.0.0.1:{base}/metrics",
                                         headers={"Host": host})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    got = r.status
            except urllib.error.HTTPError as err:
                got = err.code
            assert got == status, host
    finally:
        site.close()


def test_a_second_site_on_a_port_in_use_refuses_to_start(site: Site, redis: Redis) -> None:
    """Workers bind the port with SO_REUSEPORT, so a second site started on it by
    mistake (a ``make run`` left open) would get half of the learners: it says so and
    exits instead, and the first site goes on."""
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(site.port), "BPL_WORKERS": "2",
           "BPL_REDIS_URL": redis.url}
    p = subprocess.run([sys.executable, "-m", "server.serve"], env=env, capture_output=True,
                       timeout=60, cwd=ROOT)
    assert p.returncode != 0 and f"port {site.port} on 127.0.0.1 is in use" in p.stderr.decode()
    assert len(site.workers()) == 2


def test_metrics_ports_that_would_take_the_sites_port_are_refused() -> None:
    """BPL_METRICS_PORT=8000 beside PORT=8001 with two workers would put worker 1's
    metrics on the site's port (half the learners answered 404): the site says so and
    does not start; past the last port too."""
    from server.serve import metrics_ports_problem
    from server.settings import Settings

    assert metrics_ports_problem(Settings(metrics_port=8000, workers=2), 8001) is not None
    assert "PORT 8001" in str(metrics_ports_problem(Settings(metrics_port=8000, workers=2), 8001))
    assert metrics_ports_problem(Settings(metrics_port=65535, workers=2), 8000) is not None
    assert metrics_ports_problem(Settings(metrics_port=9100, workers=2), 8000) is None
    assert metrics_ports_problem(Settings(), 8000) is None
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": "8001", "BPL_METRICS_PORT": "8000",
           "BPL_WORKERS": "2", "BPL_REDIS_URL": "redis://127.0.0.1:1/0"}
    p = subprocess.run([sys.executable, "-m", "server.serve"], env=env, capture_output=True,
                       timeout=60, cwd=ROOT)
    assert p.returncode != 0 and "include the site's PORT 8001" in p.stderr.decode()
