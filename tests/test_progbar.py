"""The progress line: redrawn with \\r on a terminal, end-of-epoch lines only when redirected."""

import io

from gdsim.nn.progbar import ProgressBar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def drive(stream, steps=50):
    bar = ProgressBar(steps, verbose=1, stream=stream)
    bar.interval = 0.0  # draw at every update
    for step in range(1, steps):
        bar.update(step, {"loss": 1.0 / step})
    bar.update(steps, {"loss": 0.5}, final=True)
    return stream.getvalue()


def test_a_redirected_stream_gets_only_the_end_of_epoch_line():
    text = drive(io.StringIO())
    assert "\r" not in text
    assert text.count("\n") == 1 and text.startswith("50/50 [==============================]")
    assert "loss: 0.5000" in text


def test_a_terminal_gets_the_bar_redrawn_in_place():
    text = drive(Terminal())
    assert text.count("\r") == 50 and text.endswith("\n") and text.count("\n") == 1
    assert "\r 2/50 [>" in text
