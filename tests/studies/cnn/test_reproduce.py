"""gdsim.studies.cnn.reproduce: ``gdsim reproduce cnn``'s files and its history CSV."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings, strategies as st
from PIL import Image

from gdsim import numerics
from gdsim.studies.cnn.reproduce import history_csv, reproduce_cnn


def test_reproduce_cnn_writes_figure_json_csv_and_prints_json(tmp_path, capsys):
    result = reproduce_cnn(epochs=2, n=160, json_output=True, out_dir=tmp_path, size=8)
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["history"] == result["history"]
    assert set(printed) >= {"history", "spikes", "seconds"}
    assert "Epoch 2/2" in err  # Keras-style progress goes to stderr when stdout is JSON
    saved = json.loads((tmp_path / "cnn_seed_run.json").read_text())
    assert saved["history"] == result["history"]
    assert saved["numerics"]["label"] == numerics.label()  # the profile it was computed under
    header, *rows = (tmp_path / "cnn_seed_run.csv").read_text().splitlines()
    assert header == f"# gdsim numerics profile: {numerics.label()}"
    assert rows[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(rows) == 3
    assert float(rows[2].split(",")[3]) == result["history"]["val_loss"][1]
    png = tmp_path / "09_cnn_training_curves.png"
    assert png.stat().st_size > 10_000 and Image.open(png).size == (1600, 1000)
    assert not (tmp_path / "cnn_seed_run.partial.json").exists()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.01, 5.0), min_size=1, max_size=12))
def test_history_csv_round_trips_the_values(values):
    history = {"loss": values, "accuracy": values[::-1], "val_loss": values,
               "val_accuracy": values}
    rows = list(csv_rows(history_csv(history)))
    assert [float(r[1]) for r in rows[1:]] == values
    assert [int(r[0]) for r in rows[1:]] == list(range(1, len(values) + 1))


def csv_rows(text: str):
    return csv.reader(io.StringIO(text))
