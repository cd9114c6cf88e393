"""The shared background thread: results, errors, order, and life after fork."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gdsim.nn.fast import background


def test_results_and_errors_come_back_through_the_future():
    assert background.submit(lambda a, b: a * b, 6, 7).result() == 42
    with pytest.raises(ZeroDivisionError):
        background.submit(lambda: 1 / 0).result()


def test_tasks_run_under_the_callers_numpy_error_settings():
    """fit ignores overflow (it is data there): the background thread must too."""
    big = np.full(4, 1e30, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="ignore"):
            assert np.isinf(background.submit(np.multiply, big, big).result()).all()
    with np.errstate(over="raise"):
        with pytest.raises(FloatingPointError):
            background.submit(np.multiply, big, big).result()


def test_tasks_run_one_at_a_time_in_submission_order():
    """Dropout masks rely on this: draws from one generator happen in the serial order."""
    seen = []
    futures = [background.submit(seen.append, i) for i in range(200)]
    for future in futures:
        future.result()
    assert seen == list(range(200))


_FORK_CHILD = """
import os
from gdsim.nn.fast import background
assert background.submit(lambda: 1).result() == 1
pid = os.fork()
if pid == 0:  # child: exit 0 only if the task ran
    try:
        code = 0 if background.submit(lambda: 2).result(timeout=20) == 2 else 1
    except BaseException:
        code = 2
    os._exit(code)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_gets_its_own_thread():
    """The child inherits the executor but not its thread; without a fresh one it would hang.
    (In a fresh interpreter: forking the test process, where JAX's threads run, could deadlock.)"""
    result = subprocess.run([sys.executable, "-c", _FORK_CHILD], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
