"""PyTorch cross-check fixtures.

torch is optional (``pip install -e '.[bench]'`` pins ``torch==2.13.0``, a CPU wheel) and CI
does not install it: without torch these tests are skipped with that reason. With
``GDSIM_REQUIRE_TORCH=1`` a missing torch fails the run instead, so a machine that means to
run the cross-checks cannot silently skip them.
"""

import os

import pytest


@pytest.fixture(scope="session")
def torch():
    try:
        import torch
    except ImportError as exc:
        if os.environ.get("GDSIM_REQUIRE_TORCH") == "1":
            raise RuntimeError(f"GDSIM_REQUIRE_TORCH=1 but torch cannot be imported: {exc}") from exc
        pytest.skip(f"torch is not installed ({exc}): the torch.optim cross-checks need the optional "
                    "'bench' extra (pip install -e '.[bench]', torch==2.13.0 CPU); CI does not install it")
    return torch
