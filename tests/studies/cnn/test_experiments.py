"""The four experiments of seed question 000 (gdsim.studies.cnn, figures 09-13), quick mode.

Each experiment's claim is asserted on its data; each figure script writes a non-empty,
readable PNG and an SVG. Everything runs in reduced (``QUICK``) sizes: seconds, not minutes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from gdsim import figures, plots
from gdsim.studies.cnn.data import make_data
from gdsim.studies.cnn.results import EXPERIMENTS, results_payload, save_results, spike_table
from gdsim.studies.cnn.settings import QUICK, SPIKE_RULE
from gdsim.studies.cnn.validation_size import validation_size
from tests.studies.cnn.runs import quick_run

#: Short test names -> figure names (gdsim.figures), scripts figures/09-13.
SCRIPTS = {"curves": "cnn_training_curves", "minibatch": "minibatch_noise_cnn",
           "validation": "validation_sample_size", "batchnorm": "batchnorm_dropout",
           "step": "step_size_cnn"}
_DATA: dict[str, tuple] = {}


def _load(name: str):
    return figures.load(SCRIPTS[name])


def computed(name: str) -> tuple:
    """(script module, its quick compute() data), once per session."""
    if name not in _DATA:
        module = _load(name)
        _DATA[name] = (module, module.compute(quick=True))
    return _DATA[name]


# ------------------------------------------------------------------------------ the experiments

def test_minibatch_gradient_noise_falls_like_one_over_b():
    _, d = computed("minibatch")
    g = d["gradient_noise"]
    assert abs(g["slope"] + 1.0) < 0.15
    assert all(np.diff(g["variance"]) < 0)
    assert set(d["table"]) == {"batch 8", "batch 32", "batch 128", "full batch (240)"}
    for row in d["table"].values():
        assert row["spikes_total"] == sum(row["spikes"]) and row["runs"] == QUICK["seeds"]


def test_the_noise_gradient_is_the_layer_by_layer_backward_pass_bit_for_bit():
    """gradient_noise's batch gradients (``model.gradient`` in inference mode) are the plain
    backward pass through the layers that the figures' numbers were computed with."""
    model = quick_run(0, return_model=True)["model"]
    (x, y), _ = make_data(QUICK["n"], QUICK["size"], 0)
    x, y = x[:13], y[:13]
    loss, grads = model.gradient(x, y, training=False)
    with np.errstate(all="ignore"):
        h = x
        for layer in model.layers:
            h = layer.forward(h, training=False)
        g = model.loss.grad(y, h)
        for layer in reversed(model.layers):
            g = layer.backward(g)
    reference = [w for layer in model.trainable_layers for w in layer.grads]
    assert len(grads) == len(reference) == len(model.trainable_weights)
    assert all(np.array_equal(a, b) for a, b in zip(grads, reference))
    assert loss == float(model.loss(y, h))


def test_validation_loss_spread_falls_with_the_validation_set_size():
    _, both = computed("validation")
    assert set(both) == {"seed lr", "lr x10"}
    for d in both.values():
        spread = [d["spread_mean"][str(m)] for m in d["sizes"]]
        assert spread[0] > spread[1] > spread[2]
        # a tenfold larger set: about sqrt(10) = 3.16 times less spread
        for small, large in zip(spread, spread[1:]):
            assert 2.2 < small / large < 4.5
        for m in d["sizes"]:
            assert len(d["curves"][str(m)]) == QUICK["epochs"]
    # the same checkpoints on every ruler: the training history does not depend on the pool
    assert both["seed lr"]["history"] == validation_size(quick=True)["history"]


def test_validation_size_needs_a_pool_as_large_as_its_largest_set():
    with pytest.raises(ValueError, match="universe"):
        validation_size(quick=True, sizes=(10, 100), universe=50)


def test_batchnorm_dropout_experiment_records_every_curve():
    _, both = computed("batchnorm")
    d = both["reduced"]
    assert len(d["curves"]) == 3 and len(d["table"]) == 6
    for curve in d["curves"].values():
        for key in ("loss", "val_loss", "val_loss_batch_stats", "train_loss_inference"):
            assert len(curve[key]) == QUICK["epochs"]
            assert all(math.isfinite(v) for v in curve[key])
    # dropout off is a different run from the seed's network
    a, b, c = d["curves"].values()
    assert a["loss"] != c["loss"]
    # BN momentum changes only the moving statistics: identical training, different inference
    assert a["loss"] == b["loss"] and a["val_loss"] != b["val_loss"]
    seed, fast = both["seed setting"], both["seed setting, momentum 0.9"]
    assert seed["history"]["loss"] == fast["history"]["loss"]
    assert len(seed["table"]) == 4


def test_extra_scores_do_not_perturb_the_run():
    # the four-way scoring of batchnorm_seed_setting leaves the trajectory bit-identical
    _, both = computed("batchnorm")
    plain = quick_run(0)
    assert both["seed setting"]["history"] == plain["history"]


def test_step_size_experiment_covers_the_learning_rates():
    _, d = computed("step")
    assert list(d["table"]) == ["lr 0.0001", "lr 0.001", "lr 0.01", "lr 0.1"]
    losses = [d["curves"][k]["loss"] for k in d["table"]]
    assert losses[0] != losses[-1]


def test_spike_table_and_results_file(tmp_path):
    _, d = computed("step")
    table = spike_table({"step size": d})
    lines = table.splitlines()
    assert lines[0].startswith("| experiment |") and len(lines) == 2 + len(d["table"])
    path = tmp_path / "r.json"
    save_results(path, {"x": {"a": [1.0, float("nan"), float("inf")], "model": object()}})
    assert json.loads(path.read_text()) == {"x": {"a": [1.0, None, None]}}
    payload = results_payload({"step size": d})
    assert payload["markdown_table"] == table and payload["spike_rule"] == SPIKE_RULE
    assert payload["experiments"]["step size"]["table"] == d["table"]
    assert set(EXPERIMENTS) >= {"minibatch noise", "step size"}
    json.dumps(payload, allow_nan=False)  # the file is plain JSON


# ------------------------------------------------------------------------------ the images

@pytest.mark.parametrize("name", list(SCRIPTS))
def test_each_figure_script_writes_a_png_and_an_svg(name, tmp_path):
    module, data = computed(name) if name != "curves" else (_load(name), None)
    if data is None:
        paths = module.main(out_dir=tmp_path, quick=True)
    else:
        paths = plots.save(module.plot(data), tmp_path, module.STEM)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    for p in paths:
        assert p.stat().st_size > 5_000
    assert Image.open(paths[0]).size == (1600, 1000)
    assert module.__doc__.splitlines()[0]
    assert callable(module.compute) and callable(module.main)
