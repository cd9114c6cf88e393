"""``Sequential``: a Keras-like model whose ``fit`` reports exactly what Keras 3 reports.

What ``fit`` computes per epoch, as Keras 3 does (keras/src/backend/jax/trainer.py,
keras/src/metrics/reduction_metrics.py; written out as code in :mod:`gdsim.nn.training`):

* the data are cut into ``ceil(N / batch_size)`` batches (the last one partial), in a new
  order each epoch when shuffling;
* for each batch b of size n_b: forward pass in training mode with the *current* weights,
  batch loss ``L_b``, backward pass, one optimizer step (so ``L_b`` is the loss *before*
  batch b's own update);
* the epoch's reported loss is the running mean ``sum_b fl(n_b * L_b) / sum_b n_b``, kept in
  accumulators of the model's dtype (float32 by default — so, as in Keras, the reported loss
  overflows to inf once ``n_b * L_b`` exceeds the float32 range, slightly before ``L_b`` does);
* after the epoch, validation data (if any) are evaluated in inference mode the same way.

With one batch per epoch (the seed question: N = 20 <= 32) epoch k reports the loss at the
weights after k - 1 updates.

Divergence is data: inf/NaN losses are recorded and training goes on (as in Keras) unless a
``TerminateOnNaN`` callback stops it; NumPy's overflow warnings are silenced during training
and summarised by one ``DivergenceWarning`` per ``fit``.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from gdsim import _io, _overflow, _validate
from gdsim import optim
from gdsim.nn import losses as losses_module
from gdsim.nn import blas
from gdsim.nn import training as _training
from gdsim.nn import checkpoint as checkpoint_module
from gdsim.nn import metrics as metrics_module
from gdsim.nn.callbacks import Callback, History
from gdsim.nn.fast.engine import FastEngine  # the engine selection: the one import of nn.fast
from gdsim.nn.layers import BatchNormalization, Layer
from gdsim.nn.progbar import ProgressBar

SHUFFLE_MODES = ("true", "false", "batch", "keras")
ENGINES = ("fast", "reference")


class DivergenceWarning(RuntimeWarning):
    """Training left the finite range (the loss became inf or NaN)."""


def _verbosity(verbose: Any) -> int:
    """Keras's ``verbose``: "auto" (1) or an integer >= 0 (0 silent, 1 a bar, 2 a line)."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    return _validate.integer("verbose", verbose, minimum=0)


def _shuffle_mode(shuffle: Any) -> str:
    if isinstance(shuffle, (bool, np.bool_)):
        return "true" if shuffle else "false"
    return _validate.choice("shuffle", shuffle, ["batch", "keras"])


class Sequential:
    """A linear stack of layers, trained by ``fit`` with a gdsim optimizer.

    Parameters
    ----------
    layers : layers to add, in order (more can be ``add``-ed later).
    seed : int. All of the model's randomness derives from it: layer ``i``'s initializer and
        dropout masks use ``SeedSequence(seed, spawn_key=(0, i))``; ``fit``'s shuffling uses
        ``spawn_key=(1,)`` unless ``fit(seed=...)`` is given. Same seed, same bits.
    dtype : "float32" (default, like Keras) or "float64".
    background : bool (default True). With ``fit(engine="fast")``, work off the main chain of
        a step (weight-gradient GEMMs, dropout and max-pool masks, the next batch's im2col) runs
        on a background thread (:mod:`gdsim.nn.fast.background`); the results are bit-identical
        either way, only the time differs. The training data must not be changed in place
        during ``fit``: the next batch is read ahead.

    Notes
    -----
    ``fit``, ``evaluate`` and ``predict`` run the network's GEMMs with OpenBLAS at one thread
    (:func:`gdsim.nn.blas.blas_threads`): OpenBLAS splits a GEMM by thread count and rounds
    each split differently, so a fixed count is what makes "same seed, same bits" hold on any
    number of cores.
    """

    def __init__(self, layers: Iterable[Layer] | None = None, *, name: str = "sequential",
                 seed: int = 0, dtype: str = "float32", background: bool = True) -> None:
        self.name = name
        self.background = _validate.boolean("background", background)
        self.seed = _validate.integer("seed", seed, minimum=0, maximum=2**128 - 1)
        # dtype=None is Keras's default float32 (np.dtype(None) would be float64).
        self.dtype = _validate.float_dtype("dtype", "float32" if dtype is None else dtype)
        self.layers: list[Layer] = []
        self.input_shape: tuple[int, ...] | None = None
        self.built = False
        self.optimizer: optim.Optimizer | None = None
        self.loss: losses_module.Loss | None = None
        self.metrics: list[metrics_module.Metric] = []
        self.optimizer_state: optim.OptState | None = None
        self.stop_training = False
        self.history: History | None = None
        self._shuffle_streams: dict[tuple[str, int], Any] = {}
        self._fast_engine: FastEngine | None = None
        for layer in [] if layers is None else _validate.sequence("layers", layers, "layers"):
            self.add(layer)

    # ------------------------------------------------------------------ structure
    def add(self, layer: Layer) -> None:
        """Append a layer. The first layer may carry ``input_shape=`` (batch axis excluded)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be a gdsim.nn.layers.Layer, got {type(layer).__name__}")
        if self.built:
            raise ValueError("cannot add a layer to a model that is already built")
        index = next((i for i, other in enumerate(self.layers) if other is layer), None)
        if index is not None:
            # Keras shares the weights of a layer used twice; a gdsim layer keeps the cache of
            # one forward pass for its backward, so a second use would overwrite the first's
            raise ValueError(f"layer {layer.name or layer.base_name()!r} is already in this model "
                             f"(at index {index}): a layer can be used once per model (make "
                             "another and copy its weights)")
        if layer.name is None:
            # Keras's default names: dense, dense_1, ..., max_pooling2d, re_lu.
            base = layer.base_name()
            taken = {other.name for other in self.layers}
            name, k = base, 0
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            layer.name = name
        if not self.layers and getattr(layer, "input_shape", None) is not None:
            self.input_shape = tuple(int(d) for d in layer.input_shape)
        self.layers.append(layer)

    def build(self, input_shape: Sequence[int] | None = None) -> None:
        """Create every layer's weights for inputs of ``input_shape`` (batch axis excluded)."""
        if input_shape is not None:
            self.input_shape = _validate.shape_tuple("input_shape", input_shape)
        if self.input_shape is None:
            raise ValueError("the model has no input shape: give the first layer input_shape=..., "
                             "call build(input_shape) or fit on data")
        if not self.layers:
            raise ValueError("the model has no layers; add some with model.add(...)")
        shape = self.input_shape
        root = np.random.SeedSequence(self.seed)
        for index, layer in enumerate(self.layers):
            if not layer.built:
                seq = np.random.SeedSequence(root.entropy, spawn_key=(0, index))
                layer.build(shape, self.dtype, np.random.default_rng(seq))
            shape = tuple(layer.compute_output_shape(shape))
        self.output_shape = shape
        self.built = True

    @property
    def trainable_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.trainable and layer.trainable_weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self.trainable_layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        frozen = [w for layer in self.layers if not layer.trainable for w in layer.trainable_weights]
        return frozen + [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self) -> list[np.ndarray]:
        """All weights in Keras's ``model.get_weights()`` order (layer by layer)."""
        self._require_built("get_weights")
        return [w.copy() for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Set all weights from a list in Keras's ``model.get_weights()`` order."""
        self._require_built("set_weights")
        weights = _validate.sequence("weights", weights, "arrays")
        expected = sum(len(layer.get_weights()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"weights must be a list of {expected} arrays (Keras order), got {len(weights)}")
        start = 0
        for layer in self.layers:
            count = len(layer.get_weights())
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> None:
        """Print a Keras-like table: layer (type), output shape, parameter count."""
        self._require_built("summary")
        rows = [("Layer (type)", "Output Shape", "Param #")]
        shape = self.input_shape
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
            rows.append((f"{layer.name} ({type(layer).__name__})", str((None,) + shape),
                         f"{layer.count_params():,}"))
        widths = [max(len(row[i]) for row in rows) + 2 for i in range(3)]
        rule = "-" * sum(widths)
        lines = [f'Model: "{self.name}"', rule.replace("-", "=")]
        for k, row in enumerate(rows):
            lines.append("".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            lines.append(rule.replace("-", "=") if k == 0 else rule)
        trainable = sum(w.size for w in self.trainable_weights)
        total = self.count_params()
        lines += [f" Total params: {total:,}", f" Trainable params: {trainable:,}",
                  f" Non-trainable params: {total - trainable:,}"]
        for line in lines:
            print_fn(line)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer: str | optim.Optimizer = "rmsprop",
                loss: str | losses_module.Loss | None = None,
                metrics: Sequence[str] | None = None) -> None:
        """Choose optimizer, loss and metrics; Keras strings ("sgd", "adam", "mse", ...) work."""
        self.optimizer = optim.get(optimizer)
        if loss is None:
            raise ValueError("loss must be given, e.g. loss='mean_squared_error'")
        self.loss = losses_module.get(loss)
        if isinstance(metrics, str):  # Keras too wants a list: metrics=["accuracy"]
            raise TypeError(f"metrics must be a list of metric names, e.g. [{metrics!r}], got "
                            f"the string {_validate.show(metrics)}")
        metrics = [] if metrics is None else _validate.sequence("metrics", metrics, "metric names")
        self.metrics = [metrics_module.get(m, self.loss) for m in metrics]
        self.optimizer_state = None

    # ------------------------------------------------------------------ data
    def _prepare(self, name: str, data: Any) -> np.ndarray:
        # finite in the model's dtype, checked before the cast (1e300 is no float32)
        array = _validate.array(name, data, dtype=self.dtype)
        if array.ndim == 0:
            raise ValueError(f"{name} must have a batch axis, got a scalar")
        return array

    def _prepare_x(self, x: Any, name: str = "x") -> np.ndarray:
        x = self._prepare(name, x)
        expected = self.input_shape
        if expected is None:  # not built yet: the data decide (build() records it)
            expected = x.shape[1:] if x.ndim > 1 else (1,)
        # Keras accepts x of shape (N,) for a model whose input is (1,): one feature per sample.
        if x.ndim == len(expected) and expected[-1] == 1 and x.shape[1:] == expected[:-1]:
            x = x[..., None]
        if x.shape[1:] != tuple(expected):
            raise ValueError(f"{name} must have shape (batch, {', '.join(map(str, expected))}) for "
                             f"this model, got {x.shape}")
        return x

    def _prepare_xy(self, x: Any, y: Any, names: tuple[str, str] = ("x", "y")
                    ) -> tuple[np.ndarray, np.ndarray]:
        x = self._prepare_x(x, names[0])
        y = self._prepare(names[1], y)
        if len(x) != len(y):
            raise ValueError(f"{names[0]} and {names[1]} must have the same number of samples, "
                             f"got {len(x)} and {len(y)}")
        if not self.built:
            self.build(x.shape[1:])
        self._check_targets(y, names[1])
        return x, y

    def _check_targets(self, y: np.ndarray, name: str) -> None:
        """y's per-sample shape must fit the output, as Keras's losses accept it."""
        output = tuple(self.output_shape)
        if "sparse" in getattr(self.loss, "name", ""):
            ok = y.shape[1:] in ((), (1,))
            wanted = "(batch,) integer labels"
        else:
            # Keras squeezes or expands a rank difference of one: (N,) fits an (N, 1) output.
            ok = y.shape[1:] == output or (output[-1:] == (1,) and y.shape[1:] == output[:-1])
            wanted = f"shape (batch, {', '.join(map(str, output))})"
        if not ok:
            raise ValueError(f"{name} must have {wanted} to match the model's output, got {y.shape}")

    # ------------------------------------------------------------------ engines
    def _engine(self, engine: str) -> Any:
        """The engine ``fit`` runs: the reference (:mod:`gdsim.nn.training`) or the fast one
        (:mod:`gdsim.nn.fast`), kept from call to call while the layers stay the same."""
        if _validate.choice("engine", engine, ENGINES) == "reference":
            return _training.ReferenceEngine(self)
        if self._fast_engine is None or not self._fast_engine.serves(self):
            self._fast_engine = FastEngine(self)
        return self._fast_engine

    @contextlib.contextmanager
    def _numerics(self) -> Iterator[None]:
        """Overflow is data here (counted, reported once), and BLAS runs single-threaded (the
        same bits on any number of cores)."""
        with _overflow.overflow_is_data(), blas.blas_threads(1):
            yield

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"the model must be built before {what}: fit it, give the first "
                             "layer input_shape=..., or call model.build(input_shape)")

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise ValueError(f"call model.compile(optimizer=..., loss=...) before {what}")

    # ------------------------------------------------------------------ fit
    def fit(self, x: Any, y: Any, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: tuple | None = None,
            shuffle: bool | str = True, initial_epoch: int = 0, seed: int | None = None,
            checkpoint: str | os.PathLike | None = None, resume: bool = False,
            stream=None, engine: str = "fast") -> History:
        """Train for ``epochs`` epochs; returns a History whose ``history["loss"]`` is Keras's.

        The other arguments are Keras's; these say how gdsim reads them:

        Args:
            shuffle: True (a new gdsim permutation per epoch from ``seed``), False (sequential
                batches), "batch" (shuffle inside each batch, like Keras) or "keras" (Keras-JAX's
                exact order: ``np.random.permutation`` from a legacy NumPy RNG seeded with ``seed``,
                one permutation consumed by Keras's build of a fresh model, then one per epoch —
                pair it with ``keras.utils.set_random_seed(seed)`` on the Keras side).
            validation_split: the LAST fraction of (x, y), taken before shuffling, as Keras does.
            checkpoint: a path; after every epoch the full training state (weights, optimizer
                state, every random stream, history, epoch) is written there atomically.
            resume: with ``checkpoint``, continue from that file if it exists. The resumed run's
                weights and history are bit-identical to an uninterrupted run's.
            stream: where progress lines go (default: standard output).
            engine: "fast" (default) or "reference": the same bits either way
                (:mod:`gdsim.nn.training` defines what is computed; :mod:`gdsim.nn.fast`
                computes it faster).
        """
        self._require_compiled("fit")
        engine_name = _validate.choice("engine", engine, ENGINES)
        x, y = self._prepare_xy(x, y)
        batch_size = 32 if batch_size is None else _validate.integer("batch_size", batch_size, minimum=1)
        epochs = _validate.integer("epochs", epochs, minimum=0)
        initial_epoch = _validate.integer("initial_epoch", initial_epoch, minimum=0)
        verbose = _verbosity(verbose)
        mode = _shuffle_mode(shuffle)
        seed = self.seed if seed is None else _validate.integer("seed", seed, minimum=0,
                                                                maximum=2**128 - 1)
        validation_split = _validate.in_range("validation_split", validation_split, 0.0, 1.0)
        resume = _validate.boolean("resume", resume)
        if resume and checkpoint is None:
            raise ValueError("resume=True needs checkpoint=PATH")
        if checkpoint is not None:  # before any work: a folder, '' or a read-only place
            checkpoint = _validate.writable_file("checkpoint", checkpoint)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must be a file-like object with write(), got "
                            f"{_validate.show(stream)} of type {type(stream).__name__}")
        if not self.trainable_weights:
            raise ValueError("the model has no trainable weights (every layer is frozen or has "
                             "none): fit has nothing to train; set layer.trainable = True")
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of Callback objects, got "
                            f"{_validate.show(callbacks)}")

        if validation_data is None and validation_split > 0:
            split_at = int(math.floor(len(x) * (1.0 - validation_split)))
            if split_at in (0, len(x)):
                raise ValueError(f"validation_split={validation_split} leaves no training or no "
                                 f"validation samples out of {len(x)}")
            x, x_val, y, y_val = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            x_val, y_val = self._prepare_xy(*validation_data, names=("validation_data[0]",
                                                                     "validation_data[1]"))
        else:
            x_val = y_val = None

        if self.optimizer_state is None:
            self.optimizer_state = self.optimizer.init(self.trainable_weights)
        shapes = [w.shape for w in self.trainable_weights]
        if any([a.shape for a in arrays] != shapes for arrays in self.optimizer_state.slots.values()):
            raise ValueError("the trainable weights no longer match the optimizer state (a layer's "
                             "trainable was changed since compile()): call compile() again, as in "
                             "Keras; it starts a new optimizer state")

        history = History()
        callback_list = [history, *(callbacks or [])]
        for callback in callback_list:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be gdsim.nn.callbacks.Callback instances, "
                                f"got {type(callback).__name__}")
            callback.set_model(self)
        self.history = history
        runner = self._engine(engine_name)
        order = _BatchOrder(len(x), batch_size, mode, self._shuffle_stream(mode, seed, len(x)))
        order.seed = seed  # part of a checkpoint's signature
        self.stop_training = False
        for callback in callback_list:
            callback.on_train_begin()
        if checkpoint is not None:
            # temporaries a killed writer left beside the checkpoint go now, not at the next
            # save: a resumed run that has nothing left to train saves nothing
            _io.remove_orphans(checkpoint)
        if resume and os.path.exists(checkpoint):
            initial_epoch = checkpoint_module.load(checkpoint, self, order, history)
        with self._numerics():
            for epoch in range(initial_epoch, epochs):
                if verbose:
                    print(f"Epoch {epoch + 1}/{epochs}", file=stream)
                bar = ProgressBar(order.steps, verbose, stream) if verbose else None
                logs = _training.train_epoch(self, runner, x, y, order.batches(), epoch,
                                            callback_list, bar)
                if x_val is not None:
                    val = _training.evaluate(self, x_val, y_val, batch_size, engine=runner)
                    logs.update({f"val_{key}": value for key, value in val.items()})
                if bar is not None:
                    bar.update(order.steps, logs, final=True)
                for callback in callback_list:
                    callback.on_epoch_end(epoch, logs)
                if checkpoint is not None:
                    checkpoint_module.save(checkpoint, self, order, history, epoch + 1)
                if self.stop_training:
                    break
        for callback in callback_list:
            callback.on_train_end({key: values[-1] for key, values in history.history.items()})
        self._warn_divergence(history)
        return history

    def _shuffle_stream(self, mode: str, seed: int, n: int) -> Any:
        """The random stream behind the batch order, kept across fit() calls (as Keras keeps
        drawing from its RNG): two fit(epochs=1) calls shuffle like one fit(epochs=2)."""
        key = ("keras" if mode == "keras" else "gdsim", seed)
        if key not in self._shuffle_streams:
            if mode == "keras":
                # Keras-JAX draws np.random.permutation from NumPy's legacy global RNG; the
                # symbolic build of a fresh model consumes one permutation before epoch 1.
                stream = np.random.RandomState(seed)
                stream.permutation(n)
            else:
                stream = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
            self._shuffle_streams[key] = stream
        return self._shuffle_streams[key]

    def _warn_divergence(self, history: History) -> None:
        inf_epoch, nan_epoch = history.first_inf_epoch, history.first_nan_epoch
        if inf_epoch is None and nan_epoch is None:
            return
        parts = []
        if inf_epoch is not None:
            parts.append(f"inf from epoch {inf_epoch}")
        if nan_epoch is not None:
            parts.append(f"NaN from epoch {nan_epoch}")
        warnings.warn(f"training diverged: loss {' and '.join(parts)} (recorded in the history; "
                      "training went on, as in Keras)", DivergenceWarning, stacklevel=3)

    # ------------------------------------------------------------------ inference
    def evaluate(self, x: Any, y: Any, batch_size: int | None = None, verbose: int = 0,
                 return_dict: bool = False, *, batch_statistics: bool = False,
                 engine: str = "fast"):
        """Loss (and metrics) in inference mode, averaged over batches as Keras does.

        batch_statistics: BatchNormalization normalizes each batch with its own mean and
            variance (moving statistics untouched); everything else stays in inference mode.
        engine: "fast" (default: the fast tier's inference kernels) or "reference" (the
            reference layers); the same bits either way.
        """
        self._require_compiled("evaluate")
        _validate.choice("engine", engine, ENGINES)
        batch_statistics = _validate.boolean("batch_statistics", batch_statistics)
        verbose = _verbosity(verbose)
        return_dict = _validate.boolean("return_dict", return_dict)
        x, y = self._prepare_xy(x, y)
        batch_size = 32 if batch_size is None else _validate.integer("batch_size", batch_size, minimum=1)
        with self._numerics():
            logs = _training.evaluate(self, x, y, batch_size, batch_statistics, self._engine(engine))
        if verbose:
            print(" -".join([""] + [f" {k}: {v:.4f}" for k, v in logs.items()]).strip(" -"))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x: Any, batch_size: int | None = None, verbose: int = 0, *,
                batch_statistics: bool = False, engine: str = "fast") -> np.ndarray:
        """Outputs in inference mode (Dropout off, BatchNorm moving statistics), in batches.

        ``batch_statistics`` and ``engine`` as in :meth:`evaluate`."""
        _validate.choice("engine", engine, ENGINES)
        _verbosity(verbose)  # checked as Keras's; predict prints nothing either way
        batch_statistics = _validate.boolean("batch_statistics", batch_statistics)
        x = self._prepare_x(x)
        batch_size = 32 if batch_size is None else _validate.integer("batch_size", batch_size, minimum=1)
        if not self.built:
            self.build(x.shape[1:])
        outputs = None
        with self._numerics():
            runner = self._engine(engine)
            for start, output in runner.infer_batches(x, batch_size, batch_statistics):
                # copied out at once: the fast engine may write the same array next batch
                if outputs is None:
                    outputs = np.empty((len(x),) + output.shape[1:], output.dtype)
                outputs[start:start + len(output)] = output
        return outputs

    def gradient(self, x: Any, y: Any, *, training: bool = False,
                 batch_statistics: bool = False) -> tuple[float, list[np.ndarray]]:
        """The batch's mean loss and its gradient with respect to every trainable weight.

        ``L(w) = (1/N) sum_i loss(y_i, f(x_i; w))`` over the whole batch ``(x, y)`` (one batch,
        however large: no batching), as Keras reports the loss of a batch; returns
        ``(L, [dL/dw for w in model.trainable_weights])`` -- a Python float and fresh arrays in
        the same order and shapes as :attr:`trainable_weights` (like the book's
        ``network.gradient(x, t)``). Computed by the reference tier: one forward pass, the
        loss gradient, one backward pass (:mod:`gdsim.nn.training`).

        training: False (default): inference mode, Dropout off and BatchNormalization with its
            moving statistics. True: the function a training step differentiates -- Dropout
            active, drawing its masks from its generator (each call advances the generator
            exactly as a training step would, so the next ``fit`` step sees other masks), and
            BatchNormalization with the batch's statistics (``dL/dw`` through ``mu`` and
            ``var`` as well).
        batch_statistics: with ``training=False``, BatchNormalization normalizes with the
            batch's own mean and variance (and the gradient flows through them) while
            everything else stays in inference mode.

        Nothing else changes: the weights, BatchNormalization's moving statistics and the
        optimizer state are the same afterwards (inf/NaN are returned, not raised).
        """
        self._require_compiled("gradient")
        training = _validate.boolean("training", training)
        batch_statistics = _validate.boolean("batch_statistics", batch_statistics)
        x, y = self._prepare_xy(x, y)
        norms = [layer for layer in self.layers if isinstance(layer, BatchNormalization)]
        moving = [(layer.moving_mean, layer.moving_variance) for layer in norms]
        try:
            with self._numerics():
                prediction = _training.forward(self.layers, x, training=training,
                                               batch_statistics=batch_statistics)
                loss, grad = self.loss.value_and_grad(y, prediction)
                _training.backward(self.layers, grad)
        finally:
            for layer, (mean, variance) in zip(norms, moving):
                layer.moving_mean, layer.moving_variance = mean, variance
        grads = [np.array(g, copy=True) for layer in self.trainable_layers for g in layer.grads]
        return float(loss), grads

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        """The output for ``x`` in one pass (the reference layers, nothing else)."""
        training = _validate.boolean("training", training)
        x = self._prepare_x(x)
        if not self.built:
            self.build(x.shape[1:])
        return _training.forward(self.layers, x, training=training)


class _BatchOrder:
    """Which samples go into which batch, epoch by epoch (Keras's array data adapter).

    ``stream`` is a Generator (gdsim's shuffling) or a legacy RandomState (``shuffle="keras"``).
    """

    def __init__(self, n: int, batch_size: int, mode: str, stream: Any) -> None:
        self.n, self.batch_size, self.mode, self.stream = n, batch_size, mode, stream
        self.steps = -(-n // batch_size)

    def batches(self) -> list[np.ndarray | slice]:
        """The next epoch's batches (draws from the stream when shuffling)."""
        starts = range(0, self.n, self.batch_size)
        if self.mode == "false":
            return [slice(s, min(s + self.batch_size, self.n)) for s in starts]
        if self.mode == "batch":
            return [s + self.stream.permutation(min(s + self.batch_size, self.n) - s) for s in starts]
        order = self.stream.permutation(self.n)
        return [order[s:s + self.batch_size] for s in starts]
