"""``python -m gdsim`` and the ``gdsim`` command: the CLI under the portable numerics profile.

This module runs before NumPy is imported -- the only moment the BLAS kernels and NumPy's SIMD
loops can still be chosen (see :mod:`gdsim.numerics`) -- pins the portable profile unless
``GDSIM_NUMERICS=native`` or ``--native-kernels`` asks for the machine's own, then hands over
to :mod:`gdsim.cli`.
"""

from __future__ import annotations

import sys

from gdsim import numerics


def main() -> int:
    try:
        native = numerics.requested_native(sys.argv[1:])
    except ValueError as exc:
        print(f"gdsim: error: {exc}", file=sys.stderr)
        return 2
    numerics.pin(native=native)
    from gdsim import cli

    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
