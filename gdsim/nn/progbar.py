"""The Keras-style progress line a student recognises from the seed question::

    Epoch 1/500
    1/1 [==============================] - 0s 210ms/step - loss: 450.9794

Numbers are formatted as Keras formats them: ``%.4f`` when ``|x| > 1e-3``, else ``%.4e``
(``inf`` and ``nan`` print as such). ``verbose=1`` on a terminal redraws the bar with a
carriage return as batches finish; when the stream is not a terminal (a redirected log, a
pipe, CI) it prints only the end-of-epoch bar line, as Keras does, so a log has one line per
epoch. ``verbose=2`` prints one short line per epoch.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_value(value: float) -> str:
    """Keras's progress-bar number format (keras/src/utils/progbar.py)."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_logs(logs: dict[str, float]) -> str:
    return "".join(f" - {key}: {format_value(value)}" for key, value in logs.items())


def _format_time_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


class ProgressBar:
    """Progress of one epoch of ``total_steps`` batches."""

    width = 30
    #: Keras redraws at most every 0.05 s; a million tiny batches must not print a million lines.
    interval = 0.05

    def __init__(self, total_steps: int, verbose: int = 1, stream: TextIO | None = None) -> None:
        self.total_steps = total_steps
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.start = time.perf_counter()
        self._last_width = 0
        self._last_draw = -float("inf")
        #: Redraw in place only where a carriage return moves back over the line.
        self.dynamic = _is_terminal(self.stream)

    def _bar(self, step: int) -> str:
        digits = len(str(self.total_steps))
        done = int(self.width * step / max(self.total_steps, 1))
        arrow = ">" if step < self.total_steps else "="
        fill = ("=" * (done - 1) + arrow if done > 0 else "").ljust(self.width, ".")
        return f"{step:{digits}d}/{self.total_steps} [{fill}]"

    def update(self, step: int, logs: dict[str, float], final: bool = False) -> None:
        """Show that ``step`` of ``total_steps`` batches are done; ``final`` ends the line."""
        now = time.perf_counter()
        if not final and (not self.dynamic or now - self._last_draw < self.interval):
            return
        self._last_draw = now
        elapsed = now - self.start
        per_step = _format_time_per_step(elapsed / max(step, 1))
        if self.verbose == 1:
            line = f"{self._bar(step)} - {elapsed:.0f}s {per_step}{format_logs(logs)}"
            padding = " " * max(self._last_width - len(line), 0)
            self._last_width = len(line)
            if self.dynamic:
                line = "\r" + line + padding
            self.stream.write(line + ("\n" if final else ""))
            self.stream.flush()
        elif self.verbose == 2 and final:
            self.stream.write(f"{step}/{self.total_steps} - {elapsed:.0f}s - {per_step}"
                              f"{format_logs(logs)}\n")
            self.stream.flush()
