"""--workers: the parent's exit status and how it names a worker's end."""

from dashboard.web.workers import Outcome, exit_note


def test_clean_stop_is_0_and_any_bad_exit_is_1():
    assert Outcome(2, ready=2, stopping=True, exit_codes={0: 0, 1: 0}).status() == 0
    assert Outcome(2, ready=2, stopping=True, exit_codes={0: 0, 1: -9}).status() == 1


def test_a_start_failure_gives_its_own_status():
    """A wrong setting in a worker is 2, an unreachable backplane 1, whatever
    the others' exits were (they were stopped)."""
    outcome = Outcome(2, failure=("feed nope not found", 2), exit_codes={0: 2, 1: 0})
    assert outcome.status() == 2


def test_a_worker_dying_while_serving_is_1_even_if_the_rest_stop_cleanly():
    assert Outcome(2, ready=2, died="worker 0", exit_codes={0: -9, 1: 0}).status() == 1


def test_exit_note_names_the_signal_or_status():
    assert exit_note(0, 123, -9) == "worker 0 (pid 123) exited with signal 9"
    assert exit_note(1, 124, 3) == "worker 1 (pid 124) exited with status 3"
