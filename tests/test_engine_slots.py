"""How many requests the engine decodes at once: 2 on a learner's own server, sized to the machine on a room's."""
from __future__ import annotations

from types import SimpleNamespace

from helpers.server import common, engine_child

GiB = 2**30


def test_a_rooms_engine_gets_eight_slots_per_decode_thread_within_its_memory_share():
    assert engine_child.shared_slots(1, 64 * GiB) == engine_child.SHARED_SLOTS_PER_THREAD == 8
    assert engine_child.shared_slots(4, 64 * GiB) == engine_child.SHARED_SLOTS_MAX == 32
    # a tenth of 2 GiB holds four slots of 48 MB; a small machine never drops below a learner's own two
    assert engine_child.shared_slots(1, 2 * GiB) == 4
    assert engine_child.shared_slots(1, 500 * 2**20) == engine_child.DEFAULT_SLOTS == 2


def test_a_learners_engine_keeps_two_slots_unless_told(monkeypatch):
    monkeypatch.delenv(engine_child.SLOTS_VARIABLE, raising=False)
    assert engine_child.default_slots() == 2
    monkeypatch.setenv(engine_child.SLOTS_VARIABLE, "5")
    assert engine_child.default_slots() == 5
    monkeypatch.setenv(engine_child.SLOTS_VARIABLE, "many")  # not a number: the default, not a crash
    assert engine_child.default_slots() == 2


def test_the_servers_queue_lets_in_as_many_requests_as_the_engine_has_slots():
    for slots in (2, 8):
        request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(
            backend=SimpleNamespace(engine=SimpleNamespace(slots=slots)))))
        assert common.gates(request)["engine"].slots == slots
