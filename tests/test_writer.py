"""A run's checkpoints and sample grids are written in a thread of their own (ssgan.train.RunWriter):
each checkpoint holds the state of the moment it was taken, they are written in order, at most one
waits in memory, and a failed write is not lost."""

import threading
import time

import pytest
import torch

import ssgan.train
from ssgan.fileio import WriteFailed
from ssgan.stops import Interrupted
from ssgan.train import RunWriter


def test_a_checkpoint_holds_the_state_of_the_moment_it_was_taken(tmp_path):
    weight = torch.arange(6.0)
    state = {"net": {"w": weight}, "history": [{"epoch": 1}], "rng": torch.tensor([7])}
    with RunWriter() as writer:
        writer.checkpoint(tmp_path / "c.pt", state)
        weight.add_(100.0)  # training goes on at once
        state["history"].append({"epoch": 2})
    saved = torch.load(tmp_path / "c.pt", weights_only=False)
    assert torch.equal(saved["net"]["w"], torch.arange(6.0)) and saved["history"] == [{"epoch": 1}]


def test_writes_run_in_their_own_thread_in_order_one_checkpoint_at_a_time(tmp_path, monkeypatch):
    events = []

    def slow_save(path, state):
        events.append(("start", state["n"], threading.current_thread().name))
        time.sleep(0.2)
        events.append(("end", state["n"], threading.current_thread().name))

    monkeypatch.setattr(ssgan.train, "save_checkpoint", slow_save)
    with RunWriter() as writer:
        t0 = time.perf_counter()
        writer.checkpoint(tmp_path / "c.pt", {"n": 1})
        assert time.perf_counter() - t0 < 0.15  # returned before the write ended
        writer.submit(tmp_path / "grid.png", lambda: events.append(("grid", 1, threading.current_thread().name)))
        writer.checkpoint(tmp_path / "c.pt", {"n": 2})  # waits for checkpoint 1 to be on disk
        assert ("end", 1) in [e[:2] for e in events]
    assert [e[:2] for e in events] == [("start", 1), ("end", 1), ("grid", 1), ("start", 2), ("end", 2)]
    (thread,) = {e[2] for e in events}  # one thread wrote them all, not the caller's
    assert thread.startswith("ssgan-writer") and thread != threading.current_thread().name


def _failing(path, state):
    raise OSError(28, "No space left on device")


def test_a_failed_write_is_raised_when_the_loop_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(ssgan.train, "save_checkpoint", _failing)
    with pytest.raises(WriteFailed, match="No space left"):
        with RunWriter() as writer:
            writer.checkpoint(tmp_path / "c.pt", {})


def test_a_failed_write_is_raised_at_the_next_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(ssgan.train, "save_checkpoint", _failing)
    writer = RunWriter()
    writer.checkpoint(tmp_path / "c.pt", {})
    with pytest.raises(WriteFailed, match="No space left"):
        writer.checkpoint(tmp_path / "c.pt", {})


def test_the_loops_own_error_stands_but_a_stops_checkpoint_must_be_written(tmp_path, monkeypatch):
    monkeypatch.setattr(ssgan.train, "save_checkpoint", _failing)
    with pytest.raises(ValueError, match="the loop's"):
        with RunWriter() as writer:
            writer.checkpoint(tmp_path / "c.pt", {})
            raise ValueError("the loop's")
    with pytest.raises(WriteFailed, match="No space left"):
        with RunWriter() as writer:
            writer.checkpoint(tmp_path / "c.pt", {})
            raise Interrupted(2, 1, 3, tmp_path)
