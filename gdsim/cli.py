"""The ``gdsim`` command.

    gdsim reproduce [--json]            the xs/ys question's runs beside its printed numbers
    gdsim reproduce cnn [--epochs N] [--n N] [--json]   the validation-spike question's run
    gdsim reproduce eos [--quick] [--json]  the edge of stability: sharpness against 2/eta
    gdsim regression [options]          any variant of the xs/ys run, Keras-style output
    gdsim analyze regression [options]  Hessian, critical learning rate, predicted loss ratio
    gdsim figures [--out DIR] [--only NAME] [--quick] [--list]   the lecture figures
    gdsim explore [--out explorer.html] [--surface NAME] [--quick]   the offline explorer page
    gdsim numerics [--json]             the numerics profile this command computes under
    gdsim --version

The command runs under the portable numerics profile (the same bits on every x86-64 machine
with AVX2; :mod:`gdsim.numerics`), pinned by ``gdsim.__main__`` before NumPy loads.
``gdsim --native-kernels COMMAND`` (or ``GDSIM_NUMERICS=native``) uses the machine's own
kernels instead: faster on AVX-512 machines, and its results are marked machine-specific.

A bare ``gdsim`` (or ``gdsim analyze`` without a target) prints the usage on stdout and exits
with status 2, the status of every other usage error. Bad flags or values print one line
naming the flag the user typed and exit with status 2. A closed pipe (``gdsim reproduce | head
-2``) ends quietly with status 141 (128 + SIGPIPE, what a shell reports for a Unix tool killed
by SIGPIPE). Warnings (a diverging run) are one line on stderr. Every ``--json`` output is
strict JSON (``gdsim._io.json_value``: inf and NaN are ``null``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from typing import Sequence

import gdsim
from gdsim import _io, _validate

#: The Python API's argument names and the flags a user types for them, in one place: the API's
#: errors name its argument (``learning_rate must be > 0``); the CLI says the flag instead.
FLAG_FOR_ARGUMENT = {
    "learning_rate": "--lr", "momentum": "--momentum", "nesterov": "--nesterov",
    "beta_1": "--beta1", "beta_2": "--beta2", "epsilon": "--epsilon", "rho": "--rho",
    "n": "--n", "epochs": "--epochs", "batch_size": "--batch-size", "seed": "--seed",
    "dtype": "--dtype", "init_kernel": "--init-kernel", "init_bias": "--init-bias",
    "predict": "--predict", "shuffle": "--no-shuffle", "out_dir": "--out", "out": "--out",
}

#: Where the two seed questions are quoted (in the repository and on the documentation site).
SEED_QUESTIONS = "docs/seed_questions.md"


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2, and a flag is only ever
    its whole name: an abbreviation (``--ep`` for ``--epochs``) is refused, as it would be by
    the numerics profile's look at ``--native-kernels`` before NumPy loads."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"gdsim: error: {message}\n")


def _print_json(payload) -> None:
    print(_io.dumps_json(payload))


def _in_flags(message: str) -> str:
    """An API error message with its leading argument name replaced by the flag, on one line."""
    message = " ".join(message.split())
    name, _, rest = message.partition(" ")
    return f"{FLAG_FOR_ARGUMENT[name]} {rest}" if name in FLAG_FOR_ARGUMENT else message


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the CLI: the category and the message, one line, no path."""
    print(f"{category.__name__}: {' '.join(str(message).split())}", file=sys.stderr)


# ----------------------------------------------------------------------------- reproduce
def cmd_reproduce(args: argparse.Namespace) -> int:
    if args.target == "cnn":
        return cmd_reproduce_cnn(args)
    if args.target == "eos":
        return cmd_reproduce_eos(args)
    if args.quick:
        raise ValueError("--quick applies to 'gdsim reproduce eos' only")
    _only_for_cnn(args)
    from gdsim.studies.xs_ys import reproduce

    rows = reproduce.regression_table()
    if args.json:
        _print_json([row.to_json() for row in rows])
    else:
        print(f"The xs/ys question (quoted in {SEED_QUESTIONS}): Keras printed vs gdsim "
              f"computed\n")
        print(reproduce.format_table(rows))
    return 0


def _only_for_cnn(args: argparse.Namespace) -> None:
    """--epochs, --n and --out say how to run the CNN: given to another target they would
    be ignored, so they are refused."""
    given = [flag for flag, value in (("--epochs", args.epochs), ("--n", args.n), ("--out", args.out))
             if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: options that apply to 'gdsim reproduce cnn' only")


def cmd_reproduce_cnn(args: argparse.Namespace) -> int:
    """The "validation loss sometimes spikes" run: the seed's CNN on gdsim's genuine/fake set."""
    from gdsim.studies.cnn.reproduce import reproduce_cnn

    if args.quick:  # there is no quick CNN run: --n and --epochs make it smaller
        raise ValueError("--quick applies to 'gdsim reproduce eos' only (make the CNN run "
                         "smaller with --n and --epochs)")
    epochs = 100 if args.epochs is None else _validate.integer("--epochs", args.epochs, minimum=1)
    n = 8000 if args.n is None else _validate.integer("--n", args.n, minimum=8)
    # reproduce_cnn checks every size before it creates --out (an error names out_dir: --out).
    # With --json, reproduce_cnn prints the JSON itself and sends progress to stderr.
    out = "gdsim-output" if args.out is None else args.out
    reproduce_cnn(epochs=epochs, n=n, json_output=args.json, out_dir=out)
    return 0


def cmd_reproduce_eos(args: argparse.Namespace) -> int:
    """The edge of stability: sharpness every 20 steps of full-batch runs (progress on stderr)."""
    _only_for_cnn(args)
    from gdsim.studies import edge_of_stability

    runs = edge_of_stability.run_all(quick=args.quick, progress=edge_of_stability.to_stderr)
    if args.json:
        _print_json({"runs": [run.to_json() for run in runs]})
    else:
        print(edge_of_stability.format_table(runs))
    return 0


# ----------------------------------------------------------------------------- regression
#: Which hyper-parameter flags each optimizer takes (Keras keyword names).
OPTIMIZER_FLAGS = {"sgd": {"momentum", "nesterov"}, "adam": {"beta_1", "beta_2", "epsilon"},
                   "rmsprop": {"rho", "momentum", "epsilon"}, "adagrad": {"epsilon"}}


def _optimizer_from_args(args: argparse.Namespace):
    from gdsim import optim

    name = _validate.choice("--optimizer", args.optimizer, list(OPTIMIZER_FLAGS))
    given = {"momentum": args.momentum, "nesterov": args.nesterov or None, "beta_1": args.beta1,
             "beta_2": args.beta2, "epsilon": args.epsilon, "rho": args.rho}
    kwargs = {key: value for key, value in given.items() if value is not None}
    for key in kwargs:
        if key not in OPTIMIZER_FLAGS[name]:
            raise ValueError(f"{FLAG_FOR_ARGUMENT[key]} does not apply to --optimizer {name}")
    if args.lr is not None:
        kwargs["learning_rate"] = args.lr
    return optim.get(name).__class__(**kwargs)


def cmd_regression(args: argparse.Namespace) -> int:
    from gdsim.studies.xs_ys import regression
    from gdsim.studies.xs_ys.reproduce import seed_init_kernel

    optimizer = _optimizer_from_args(args)
    kernel = seed_init_kernel() if args.init_kernel is None else args.init_kernel
    result = regression.run(n=args.n, optimizer=optimizer, kernel=kernel,
                            bias=args.init_bias, epochs=args.epochs, batch_size=args.batch_size,
                            shuffle=not args.no_shuffle, seed=args.seed, dtype=args.dtype,
                            predict_at=args.predict, verbose=0 if args.json else 1)
    if args.json:
        _print_json(result.to_json())
        return 0
    if args.predict is not None:
        print(f"predict([{args.predict}]) = [[{result.prediction:.6f}]]")
    print(f"kernel = {result.kernel:.6g}, bias = {result.bias:.6g}")
    if result.first_inf_epoch or result.first_nan_epoch:
        print(f"first inf epoch: {result.first_inf_epoch}, first NaN epoch: {result.first_nan_epoch}")
    return 0


# ----------------------------------------------------------------------------- analyze
def cmd_analyze_regression(args: argparse.Namespace) -> int:
    from gdsim.studies.xs_ys import stability
    from gdsim.studies.xs_ys.data import seed_regression

    n = _validate.integer("--n", args.n, minimum=1)
    lr = _validate.positive("--lr", args.lr)
    xs, _ = seed_regression(n, dtype="float64")
    report = dict(stability.regression_stability(xs, lr))
    report["max_converging_n"] = stability.max_converging_n(lr)
    if args.json:
        _print_json(report)
        return 0
    print(f"Linear regression w*x + b on xs = 1..{n}, full-batch gradient descent, lr = {lr:g}")
    print(f"  Hessian 2*[[mean x^2, mean x], [mean x, 1]]: eigenvalues "
          f"{report['lambda_max']:.6g} and {report['lambda_min']:.6g}")
    print(f"  critical learning rate 2/lambda_max = {report['critical_lr']:.6g}")
    print(f"  loss ratio per epoch along the top eigenvector (1 - lr*lambda_max)^2 = "
          f"{report['loss_ratio']:.6g}")
    print(f"  converges: {'yes' if report['converges'] else 'no'}; the largest n that converges "
          f"at this lr is {report['max_converging_n']}")
    return 0


# ----------------------------------------------------------------------------- figures
def cmd_figures(args: argparse.Namespace) -> int:
    from gdsim import figures

    if args.list:
        if args.only is not None or args.out is not None:
            raise ValueError("--list names every figure and writes none: it takes no --only or --out")
        for name in figures.names():
            print(f"{name:28s} {figures.describe(name)}")
        return 0
    only = None if args.only is None else [_validate.choice("--only", name, figures.names())
                                           for name in args.only]
    # Full figures go where the committed ones live; quick drafts never overwrite them.
    out = figures.default_out_dir(args.quick) if args.out is None else args.out
    _io.ensure_folder("--out", out)
    for path in figures.make_all(out, only=only, quick=args.quick):
        print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- explore
def cmd_explore(args: argparse.Namespace) -> int:
    from gdsim import explorer

    names = None if args.surface is None else [n.strip() for s in args.surface for n in s.split(",")]
    path = explorer.write(args.out, surfaces=names, quick=args.quick,
                          progress=lambda line: print(f"  {line}", file=sys.stderr))
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB); open it in a browser, no network needed")
    return 0


# ----------------------------------------------------------------------------- numerics
def cmd_numerics(args: argparse.Namespace) -> int:
    from gdsim import numerics

    info = numerics.record()
    if args.json:
        _print_json(info)
        return 0
    print(info["label"])
    if not info["portable"]:
        print(f"  not the portable profile: {info['reason']}")
    print(f"  BLAS threads {info['blas_threads']}; NumPy SIMD targets "
          f"{' '.join(info['numpy_simd']) or 'none'}")
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gdsim", description="Optimizer simulator for teaching, cross-checked "
                                                "against Keras.")
    parser.add_argument("--version", action="version", version=f"gdsim {gdsim.__version__}")
    parser.add_argument("--native-kernels", action="store_true",
                        help="use this machine's own BLAS/SIMD kernels (faster on AVX-512, "
                             "results machine-specific); default: the portable profile. Acts "
                             "when the command starts (gdsim, python -m gdsim), before NumPy "
                             "loads; same as GDSIM_NUMERICS=native")
    parser.set_defaults(handler=None, usage_of=parser)
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    reproduce = commands.add_parser("reproduce", help="the seed questions' runs beside their "
                                                      "printed numbers")
    reproduce.add_argument("target", nargs="?", default="regression", choices=["regression", "cnn", "eos"],
                           help="regression: the xs/ys question (default); cnn: the validation-"
                                "spike question's training run; eos: the edge of stability")
    reproduce.add_argument("--epochs", type=int, help="cnn: epochs (default 100, as the seed)")
    reproduce.add_argument("--n", type=int, help="cnn: number of images (default 8000)")
    reproduce.add_argument("--out",
                           help="cnn: folder for the curves figure and the history JSON/CSV "
                                "(default ./gdsim-output)")
    reproduce.add_argument("--quick", action="store_true",
                           help="eos: only the gd, control and adam runs (CI-sized)")
    reproduce.add_argument("--json", action="store_true", help="print the results as JSON")
    reproduce.set_defaults(handler=cmd_reproduce)

    regression = commands.add_parser("regression", help="run any variant of the xs/ys question")
    regression.add_argument("--n", type=int, default=20, help="xs = 1..n (default 20)")
    regression.add_argument("--optimizer", default="sgd", help="sgd, adam, rmsprop or adagrad")
    regression.add_argument("--lr", type=float, help="learning rate (default: Keras's)")
    regression.add_argument("--momentum", type=float)
    regression.add_argument("--nesterov", action="store_true")
    regression.add_argument("--epsilon", type=float)
    regression.add_argument("--beta1", type=float)
    regression.add_argument("--beta2", type=float)
    regression.add_argument("--rho", type=float)
    regression.add_argument("--epochs", type=int, default=500)
    regression.add_argument("--batch-size", type=int, default=32)
    regression.add_argument("--no-shuffle", action="store_true")
    regression.add_argument("--seed", type=int, default=0)
    regression.add_argument("--init-kernel", type=float,
                            help="initial kernel (default: the seed run's, inferred from its "
                                 "first printed loss)")
    regression.add_argument("--init-bias", type=float, default=0.0)
    regression.add_argument("--dtype", default="float32", help="float32 (Keras) or float64")
    regression.add_argument("--predict", type=float, default=25.0,
                            help="print predict([X]) after training (default 25)")
    regression.add_argument("--json", action="store_true")
    regression.set_defaults(handler=cmd_regression)

    analyze = commands.add_parser("analyze", help="stability analysis")
    analyze.set_defaults(usage_of=analyze)
    targets = analyze.add_subparsers(dest="target", parser_class=_Parser, metavar="TARGET")
    analyze_regression = targets.add_parser("regression", help="the xs/ys linear regression")
    analyze_regression.add_argument("--n", type=int, default=20)
    analyze_regression.add_argument("--lr", type=float, default=0.01)
    analyze_regression.add_argument("--json", action="store_true")
    analyze_regression.set_defaults(handler=cmd_analyze_regression)
    figures = commands.add_parser("figures", help="regenerate the lecture figures")
    figures.add_argument("--out", help="output folder, created if missing (default: the "
                                       "repository's figures/ in a source checkout, else "
                                       "./gdsim-figures; with --quick their quick/ subfolder)")
    figures.add_argument("--only", action="append", metavar="NAME",
                         help="only this figure (repeatable); see --list")
    figures.add_argument("--quick", action="store_true", help="reduced, seconds-long versions")
    figures.add_argument("--list", action="store_true", help="name the figures and stop")
    figures.set_defaults(handler=cmd_figures)

    explore = commands.add_parser("explore", help="write the offline interactive explorer: one "
                                                  "self-contained HTML file")
    explore.add_argument("--out", default="explorer.html", help="the HTML file to write "
                                                                "(default ./explorer.html)")
    explore.add_argument("--surface", action="append", metavar="NAME",
                         help="bowl, rosenbrock, double_well, saddle, himmelblau (comma-separated "
                              "or repeated; default all)")
    explore.add_argument("--quick", action="store_true", help="fewer slider stops and steps "
                                                              "(a smaller file, built in seconds)")
    explore.set_defaults(handler=cmd_explore)
    numerics = commands.add_parser("numerics", help="the numerics profile (portable or native: "
                                                    "BLAS kernels, SIMD, versions)")
    numerics.add_argument("--json", action="store_true")
    numerics.set_defaults(handler=cmd_numerics)
    return parser


def _note_profile() -> None:
    """Commands whose numbers a reader compares with the book say, on stderr, when they were
    not computed under the portable profile."""
    from gdsim import numerics

    info = numerics.profile()
    if not info["portable"]:
        print(f"gdsim: numerics profile {numerics.label(info)} ({info['reason']}): results "
              f"are machine-specific", file=sys.stderr)


def _looks_like_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--lr -1e-3`` -> ``--lr=-1e-3``: argparse reads a token starting with "-" that is not
    a plain ``-5`` or ``-.5`` as an option, so ``-1e-3`` or ``-inf`` would be "expected one
    argument". Joined to its flag it is read as the value, and the command's range check
    refuses it with the flag's name and range."""
    joined: list[str] = []
    for token in argv:
        if (joined and token.startswith("-") and _looks_like_number(token)
                and joined[-1].startswith("--") and "=" not in joined[-1]):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def _refuse_double_dash_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """``--lr=--``: argparse drops a "--" it finds even inside ``--flag=--`` and hands the
    command an empty list as the value; no flag takes "--", so it is refused here, named."""
    for token in argv:
        if token.startswith("--") and token.endswith("=--"):
            parser.error(f"argument {token[:-3]}: expected a value, got '--'")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    _refuse_double_dash_values(parser, argv)
    args = parser.parse_args(_join_negative_values(argv))
    if args.handler is None:  # bare `gdsim` or `gdsim analyze`: show what there is to run
        args.usage_of.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            status = args.handler(args)
            if (status == 0 and args.command in ("reproduce", "figures")
                    and not getattr(args, "list", False)):
                _note_profile()  # after the work: a bad flag stays a one-line error
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return status
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a Unix tool killed by SIGPIPE
        # would, and point stdout at devnull so the interpreter's final flush stays silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + getattr(signal, "SIGPIPE", 13)
    except (ValueError, TypeError, OSError) as exc:
        # One line, no traceback: the message names the flag or the file.
        print(f"gdsim: error: {_in_flags(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
