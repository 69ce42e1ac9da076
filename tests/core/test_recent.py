"""Recent: answers kept for a window, bounded, forgotten on demand."""

from __future__ import annotations

from ecorec.core.recent import Recent


def test_values_expire_after_the_window_and_can_be_forgotten() -> None:
    now = [0.0]
    recent = Recent[str, int](5.0, clock=lambda: now[0])
    recent.put("a", 1)
    recent.put("b", 2)
    now[0] = 4.9
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (1, 2, None)
    recent.forget("a")
    assert recent.get("a") is None and recent.get("b") == 2
    now[0] = 5.0
    assert recent.get("b") is None
    recent.put("b", 3)
    recent.forget()
    assert recent.get("b") is None


def test_memory_stays_bounded() -> None:
    recent = Recent[int, int](60.0, limit=3)
    for key in range(10):
        recent.put(key, key)
        assert len(recent._values) <= 3
    assert recent.get(9) == 9


def test_read_loads_once_per_window_and_remembers_none_answers() -> None:
    now, loads = [0.0], []

    def load(key: str) -> int | None:
        loads.append(key)
        return None if key == "unknown" else len(key)

    recent = Recent[str, int | None](60.0, clock=lambda: now[0])
    assert [recent.read(k, load) for k in ("ab", "ab", "unknown", "unknown")] == [2, 2, None, None]
    assert loads == ["ab", "unknown"]  # an id the database does not know is not asked again
    now[0] = 60.0
    assert recent.read("unknown", load) is None and loads == ["ab", "unknown", "unknown"]
