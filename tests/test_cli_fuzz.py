"""Fuzz the ``gdsim`` command: thousands of bad invocations over every subcommand and flag.

Each invocation runs in-process through :func:`gdsim.cli.main` and is classified, as the API
sweep (tests/test_fuzz.py) classifies calls:

* refused clearly   exit status 2 and exactly one stderr line ``gdsim: error: ...`` that
                    names the flag (or the stray token) the user typed -- ``--lr``, never the
                    API's ``learning_rate``;
* valid odd value   exit 0 for a value the flag's kind accepts (``--lr 7``, ``--seed -0``);
* unclear error     exit 2 without the flag's name, or on several lines;
* silently accepted exit 0 for a value the kind refuses;
* hang              still running after the per-case alarm;
* crash             any exception out of ``main`` (a traceback for the user), or another status.

Only "refused clearly" and "valid odd value" may occur. Values are typed text: the catalogue
below (negative-looking numbers, ``nan``, overflowing floats, huge ints, unicode digits,
option-looking words ...) plus seeded random strings, each in the ``--flag VALUE`` and the
``--flag=VALUE`` form; then structural mistakes (unknown flags, missing values, extra
positionals, a store-true flag given a value, another command's or optimizer's flag). A valid
value of a long command (reproduce cnn/eos, figures, explore) is not run: those are only
called with what they refuse. A few invocations also go through a real ``python -m gdsim``
process, to check the exit status and that no traceback reaches the terminal.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from gdsim import _validate, cli, figures
from tests import fuzz_cases as fc

CASE_SECONDS = 20
SEED = 10
F32 = float(np.finfo(np.float32).max)

#: typed values: what a hostile or careless user puts after a flag
CATALOGUE = [
    "", " ", "abc", "-", "--", "-1", "-1e-3", "-.5", "-0", "0", "0.0", "1e-400", "nan", "-nan",
    "inf", "-inf", "+inf", "1e39", "-1e39", "1e309", "3.5e38", "1.5", "0.5", "7", "1", "2",
    "1000000000", str(10**30), "99999999999999999999999", "0x10", "1_000", " 5", "+5", "5.0",
    "1e3", "True", "None", "[1]", "1,2", "float16", "float32", "float64", "sgd", "adam", "adamw",
    "\u00e9", "\u0663", "--json", "-x", "-1e-3x", "1e", ".", "e5", "--lr",
]


def _int(text):
    try:
        return int(text)  # what argparse's type=int does
    except ValueError:
        return None


def _float(text):
    try:
        return float(text)
    except ValueError:
        return None


class Kind:
    """What a flag accepts, judged on the typed text; ``cheap`` says a valid value is quick
    to run (a long valid run is not started)."""

    def __init__(self, name, valid, cheap=lambda text: True):
        self.name, self.valid, self.cheap = name, valid, cheap


def integer(low, high=math.inf, cheap_up_to=math.inf):
    return Kind(f"int in [{low}, {high}]",
                lambda t: _int(t) is not None and low <= _int(t) <= high,
                lambda t: _int(t) <= cheap_up_to)


def real(low, high, low_open=False, high_open=False):
    def valid(text):
        value = _float(text)
        if value is None or not math.isfinite(value):
            return False
        return ((value > low if low_open else value >= low)
                and (value < high if high_open else value <= high))
    return Kind(f"real in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}",
                valid)


def choice(*options):
    return Kind(f"one of {options}", lambda t: t in options)


#: the folders and files an --out may not be: refused; any other --out would start the work
HOSTILE_PATHS = ["", " ", "/proc/none/x", "/sys/gdsim-x/y"]
NOTHING = Kind("refused whatever the value", lambda t: False)
POSITIVE = real(0, math.inf, low_open=True)
UNIT = real(0, 1)
UNIT_OPEN = real(0, 1, high_open=True)
FINITE32 = real(-F32, F32)
LIMIT = _validate.memory_limit()
REGRESSION = ["--n", "3", "--epochs", "1", "--json"]


def out_folder(existing_file):
    return Kind("a folder that can be created", lambda t: t not in HOSTILE_PATHS + [existing_file],
                lambda t: False)


def _surfaces_valid(text):
    names = {"bowl", "bowl-1", "bowl-10", "bowl-100", "double_well", "himmelblau", "rosenbrock",
             "saddle"}
    parts = [part.strip() for part in text.split(",")]
    return bool(parts) and all(part in names for part in parts)


def commands(existing_file):
    """{label: (argv prefix, base arguments, {flag: kind})}."""
    return {
        "regression": (["regression"], REGRESSION, {
            "n": integer(1, LIMIT // 32, cheap_up_to=2000), "lr": POSITIVE, "momentum": UNIT,
            "epochs": integer(0, cheap_up_to=3), "batch-size": integer(1), "seed": integer(0, 2**128 - 1),
            "init-kernel": FINITE32, "init-bias": FINITE32, "predict": FINITE32,
            "dtype": choice("float32", "float64"), "optimizer": choice("sgd", "adam", "rmsprop", "adagrad")}),
        "regression adam": (["regression"], REGRESSION + ["--optimizer", "adam"], {
            "beta1": UNIT_OPEN, "beta2": UNIT_OPEN, "epsilon": POSITIVE, "momentum": NOTHING,
            "rho": NOTHING}),
        "regression rmsprop": (["regression"], REGRESSION + ["--optimizer", "rmsprop"], {
            "rho": UNIT_OPEN, "momentum": UNIT, "epsilon": POSITIVE, "beta1": NOTHING}),
        "regression adagrad": (["regression"], REGRESSION + ["--optimizer", "adagrad"], {
            "epsilon": POSITIVE, "lr": POSITIVE, "beta2": NOTHING}),
        "analyze regression": (["analyze", "regression"], ["--json"], {
            "n": integer(1, LIMIT // 64, cheap_up_to=10**5), "lr": POSITIVE}),
        "reproduce": (["reproduce"], ["--json"], {"epochs": NOTHING, "n": NOTHING, "out": NOTHING}),
        "reproduce eos": (["reproduce", "eos"], ["--quick", "--json"], {
            "epochs": NOTHING, "n": NOTHING, "out": NOTHING}),
        "reproduce cnn": (["reproduce", "cnn"], ["--json"], {
            "epochs": Kind("int >= 1", lambda t: _int(t) is not None and _int(t) >= 1, lambda t: False),
            "n": Kind("int >= 8 within memory", lambda t: _int(t) is not None
                      and 8 <= _int(t) <= LIMIT // (36 * 32 * 32 * 3), lambda t: False),
            "out": out_folder(existing_file)}),
        "figures": (["figures"], ["--quick"], {
            "only": Kind("a figure name", lambda t: t in figures.names(), lambda t: False),
            "out": out_folder(existing_file)}),
        "figures --list": (["figures"], ["--list"], {"only": NOTHING, "out": NOTHING}),
        "explore": (["explore"], ["--quick"], {
            "surface": Kind("surface names", _surfaces_valid, lambda t: False),
            "out": Kind("an HTML file path", lambda t: t not in HOSTILE_PATHS + [existing_file + "/x.html"]
                        and t.strip() != "" and not os.path.isdir(t), lambda t: False)}),
    }


def random_texts(rng, count):
    """Seeded junk: signs, digits, exponents, dots, letters, spaces, in short strings."""
    alphabet = list("0123456789-+.eE_ xnaif,")
    return ["".join(rng.choice(alphabet, size=int(rng.integers(1, 8)))) for _ in range(count)]


def value_cases(existing_file):
    rng = np.random.default_rng(SEED)
    cases = []
    for label, (prefix, base, flags) in sorted(commands(existing_file).items()):
        for flag, kind in sorted(flags.items()):
            values = CATALOGUE + random_texts(rng, 20)
            if flag == "out":
                values = values + HOSTILE_PATHS + [existing_file, existing_file + "/x.html"]
            for value in values:
                for joined in (False, True):
                    tail = [f"--{flag}={value}"] if joined else [f"--{flag}", value]
                    cases.append((label, [*prefix, *base, *tail], f"--{flag}", kind, value))
    return cases


def structural_cases(existing_file):
    """Mistakes of form, each with the token the message must name."""
    cases = []
    for label, (prefix, base, flags) in sorted(commands(existing_file).items()):
        for bogus in ("--bogus", "--bogus=1", "-z"):
            cases.append((label, [*prefix, *base, bogus], bogus.split("=")[0]))
        cases.append((label, [*prefix, *base, "stray"], "stray"))
        for flag in flags:  # a flag as the last word: no value
            cases.append((label, [*prefix, *base, f"--{flag}"], f"--{flag}"))
            cases.append((label, [*prefix, f"--{flag}", *base], f"--{flag}"))  # then an option
    for argv, named in [
        (["regression", "--json=1"], "--json"), (["regression", "--nesterov=yes"], "--nesterov"),
        (["regression", "--no-shuffle=0"], "--no-shuffle"),
        (["regression", *REGRESSION, "--beta1", "0.5"], "--beta1"),
        (["regression", *REGRESSION, "--optimizer", "adam", "--nesterov"], "--nesterov"),
        (["regression", *REGRESSION, "--optimizer", "adagrad", "--momentum", "0.5"], "--momentum"),
        (["regression", *REGRESSION, "--lr", "0.1", "--lr", "-1"], "--lr"),
        (["regression", *REGRESSION, "--quick"], "--quick"),
        (["regression", "--out", "x"], "--out"), (["analyze", "regression", "--epochs", "3"], "--epochs"),
        (["analyze", "regression", "--json=yes"], "--json"), (["analyze", "cnn"], "cnn"),
        (["analyze", "regression", "extra"], "extra"), (["reproduce", "foo"], "foo"),
        (["reproduce", "regression", "--quick"], "--quick"), (["reproduce", "cnn", "--quick"], "--quick"),
        (["reproduce", "eos", "--n", "5", "--epochs", "3"], "--n"),
        (["reproduce", "regression", "cnn"], "cnn"),
        (["figures", "--list", "--only", "divergence"], "--only"),
        (["figures", "--list", "--out", "x"], "--out"), (["figures", "--lr", "0.1"], "--lr"),
        (["figures", "--quick=1"], "--quick"), (["explore", "--n", "3"], "--n"),
        (["explore", "--surface", "nope", "--quick"], "--surface"),
        (["explore", "--surface", "bowl,,nope", "--quick"], "--surface"),
        (["numerics", "--json=1"], "--json"), (["numerics", "extra"], "extra"),
        (["numerics", "--lr", "1"], "--lr"), (["--bogus"], "--bogus"), (["bogus"], "bogus"),
        (["--native-kernels", "--bogus"], "--bogus"), (["--version=2"], "--version"),
        (["regression", "--lr", "--", "0.1"], "--lr"),
    ]:
        cases.append(("structure", argv, named))
    return cases


def invoke(argv):
    """(status, stderr) of ``gdsim ARGV`` in-process; exceptions propagate (a crash)."""
    out, err = io.StringIO(), io.StringIO()
    with fc.time_limit(CASE_SECONDS), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:
            status = exit_.code
    return status, err.getvalue()


def classify(argv, named, valid):
    """One invocation's outcome and what it printed."""
    try:
        status, err = invoke(argv)
    except fc.Hang as exc:
        return "hang", str(exc)
    except BaseException as exc:  # noqa: BLE001 - anything out of main is a traceback
        return "crash", f"{type(exc).__name__}: {exc}"
    if status == 0:
        return ("valid odd value" if valid else "silently accepted"), err.strip()[-200:]
    if status != 2:
        return "crash", f"status {status}: {err.strip()[-200:]}"
    lines = err.strip().splitlines()
    clear = (len(lines) == 1 and lines[0].startswith("gdsim: error: ") and named in lines[0])
    if valid:
        return "unclear error", f"a valid value was refused: {err.strip()}"
    return ("refused clearly" if clear else "unclear error"), err.strip()


def test_every_bad_cli_invocation_is_refused_in_one_line_naming_the_flag(tmp_path, monkeypatch):
    from tests import fuzz_counter

    monkeypatch.chdir(tmp_path)  # a folder a valid --out would create lands here
    existing_file = str(tmp_path / "a-file")
    open(existing_file, "w").close()
    outcomes, bad, expensive = Counter(), [], {"reproduce cnn", "reproduce eos", "figures", "explore"}
    for label, argv, named, kind, value in value_cases(existing_file):
        valid = kind.valid(value)
        if valid and (label in expensive or not kind.cheap(value)):
            continue  # valid and long: not a bad input, and not run
        outcome, detail = classify(argv, named, valid)
        outcomes[outcome] += 1
        if outcome not in ("refused clearly", "valid odd value"):
            bad.append(f"{outcome}: gdsim {' '.join(map(repr, argv))} -> {detail}")
    for label, argv, named in structural_cases(existing_file):
        outcome, detail = classify(argv, named, False)
        outcomes[outcome] += 1
        if outcome != "refused clearly":
            bad.append(f"{outcome}: gdsim {' '.join(map(repr, argv))} -> {detail}")
    total = sum(outcomes.values())
    fuzz_counter["cli"] = (total, dict(outcomes), len(commands(existing_file)))
    assert total >= 3000, total
    assert outcomes["refused clearly"] >= 0.8 * total, outcomes
    assert not bad, f"{len(bad)} of {total} invocations were not clear:\n" + "\n".join(bad[:80])
    assert sorted(os.listdir(tmp_path)) == ["a-file"], "a refused invocation left files behind"


@pytest.mark.parametrize("argv,named", [
    (["regression", "--lr", "-1e-3"], "--lr"),
    (["regression", "--n", "1000000000"], "--n"),
    (["regression", "--init-kernel", "1e39"], "--init-kernel"),
    (["reproduce", "cnn", "--n", "1000000000", "--out", "{tmp}/out"], "--n"),
    (["figures", "--out", "/proc/none/x", "--quick", "--only", "divergence"], "--out"),
    (["regression", "--bogus"], "--bogus"),
])
def test_a_real_process_exits_2_with_one_line_and_no_traceback(tmp_path, argv, named):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    process = subprocess.run([sys.executable, "-m", "gdsim", *argv], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
    assert process.returncode == 2, process.stderr
    assert process.stdout == ""
    assert process.stderr.count("\n") == 1 and "Traceback" not in process.stderr
    assert process.stderr.startswith("gdsim: error: ") and named in process.stderr
    assert os.listdir(tmp_path) == []  # nothing created, not even --out
