"""``Sequential``: a Keras-like model whose ``fit`` reports exactly what Keras 3 reports.

What ``fit`` computes per epoch, as Keras 3 does (keras/src/backend/jax/trainer.py,
keras/src/metrics/reduction_metrics.py):

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
from concurrent.futures import Future
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from gdsim import _validate
from gdsim import optim
from gdsim.nn import losses as losses_module
from gdsim.nn import background, blas, flat_update
from gdsim.nn import checkpoint as checkpoint_module
from gdsim.nn import metrics as metrics_module
from gdsim.nn.callbacks import Callback, History
from gdsim.nn.layers import Layer
from gdsim.nn.progbar import ProgressBar

SHUFFLE_MODES = ("true", "false", "batch", "keras")


class DivergenceWarning(RuntimeWarning):
    """Training left the finite range (the loss became inf or NaN)."""


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
    blas_threads : OpenBLAS threads while training/predicting (default 1; None leaves NumPy's
        setting). The network's GEMMs are small: two threads spin-waiting on a busy 2-core
        machine made a training step 5x slower (measured), one thread costs ~5% when idle.
    background : bool (default True). During training, work off the main chain of a step
        (weight-gradient GEMMs, dropout and max-pool masks, the next batch's im2col) runs on a
        background thread (:mod:`gdsim.nn.background`); the results are bit-identical either
        way, only the time differs (~12% per seed-CNN step on 2 cores). The training data must
        not be changed in place during ``fit``: the next batch is read ahead.
    """

    def __init__(self, layers: Iterable[Layer] | None = None, *, name: str = "sequential",
                 seed: int = 0, dtype: str = "float32", blas_threads: int | None = 1,
                 background: bool = True) -> None:
        self.name = name
        self.background = _validate.boolean("background", background)
        self.blas_threads = (None if blas_threads is None
                             else _validate.integer("blas_threads", blas_threads, minimum=1))
        self.seed = _validate.integer("seed", seed, minimum=0)
        self.dtype = _validate.float_dtype("dtype", dtype)
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
        self._flat_update = flat_update.FlatUpdate()
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    def add(self, layer: Layer) -> None:
        """Append a layer. The first layer may carry ``input_shape=`` (batch axis excluded)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be a gdsim.nn.layers.Layer, got {type(layer).__name__}")
        if self.built:
            raise ValueError("cannot add a layer to a model that is already built")
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
            self.input_shape = tuple(int(d) for d in input_shape)
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
        weights = list(weights)
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
        self.metrics = [metrics_module.get(m, self.loss) for m in (metrics or [])]
        self.optimizer_state = None

    # ------------------------------------------------------------------ data
    def _prepare(self, name: str, data: Any) -> np.ndarray:
        array = _validate.array(name, data)
        if array.ndim == 0:
            raise ValueError(f"{name} must have a batch axis, got a scalar")
        return array.astype(self.dtype, copy=False)

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

    # ------------------------------------------------------------------ passes
    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _backward(self, grad: np.ndarray) -> None:
        # Nothing upstream of the first layer needs dL/dx: skipping it saves ~12% of a CNN
        # step. Set on every pass, since a layer object may also sit in another model.
        for index, layer in enumerate(self.layers):
            layer.compute_input_grad = index > 0
            # every gradient handed down is a fresh array of the layer above: reusable
            layer.scratch_grad_output = True
        try:
            for layer in reversed(self.layers):
                grad = layer.backward(grad)
        finally:
            for layer in self.layers:
                layer.scratch_grad_output = False

    @contextlib.contextmanager
    def _training_step(self, batch_size: int) -> Iterator[None]:
        """Per-step layer flags: a layer may compute in place over an input the layer before no
        longer needs, write again into the arrays it returned in the last step, and
        (``background=True``) hand work to the background thread, starting with the dropout
        masks. Reset afterwards: a layer used on its own, or by another model, gets none of
        it. A step that fails leaves nothing behind: its background work is waited for and
        unused dropout draws are undone (a checkpoint resumes bit for bit)."""
        for previous, layer in zip([None] + self.layers[:-1], self.layers):
            layer.scratch_input = previous is not None and not previous.keeps_output
            layer.reuse_buffers = True
            layer.use_background = self.background
            if self.background:
                layer.prefetch(batch_size)
        try:
            yield
        except BaseException:
            background.drain()
            raise
        finally:
            for layer in self.layers:
                layer.discard_prefetch()
                layer.use_background = layer.scratch_input = layer.reuse_buffers = False

    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One Keras train_step: loss at the current weights, then one optimizer update."""
        with self._training_step(x.shape[0]):
            prediction = self._forward(x, training=True)
            loss, grad = self.loss.value_and_grad(y, prediction)
            self._backward(grad)
        layers = self.trainable_layers
        params = [w for layer in layers for w in layer.trainable_weights]
        grads = [g for layer in layers for g in layer.grads]
        if flat_update.flattenable(self.optimizer, params):
            params, self.optimizer_state = self._flat_update.step(
                self.optimizer, params, grads, self.optimizer_state)
        else:
            params, self.optimizer_state = self.optimizer.step(params, grads, self.optimizer_state)
        start = 0
        for layer in layers:
            count = len(layer.trainable_weights)
            layer.set_trainable_weights(params[start:start + count])
            start += count
        return loss, prediction

    @contextlib.contextmanager
    def _numerics(self) -> Iterator[None]:
        """Overflow is data here (counted, reported once), and BLAS runs single-threaded."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"), \
                blas.blas_threads(self.blas_threads):
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
            stream=None) -> History:
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
        """
        self._require_compiled("fit")
        x, y = self._prepare_xy(x, y)
        batch_size = 32 if batch_size is None else _validate.integer("batch_size", batch_size, minimum=1)
        epochs = _validate.integer("epochs", epochs, minimum=0)
        initial_epoch = _validate.integer("initial_epoch", initial_epoch, minimum=0)
        verbose = 1 if verbose == "auto" else _validate.integer("verbose", verbose, minimum=0)
        mode = _shuffle_mode(shuffle)
        seed = self.seed if seed is None else _validate.integer("seed", seed, minimum=0)
        validation_split = _validate.in_range("validation_split", validation_split, 0.0, 1.0)
        resume = _validate.boolean("resume", resume)
        if resume and checkpoint is None:
            raise ValueError("resume=True needs checkpoint=PATH")
        if checkpoint is not None:
            if not isinstance(checkpoint, (str, os.PathLike)):
                raise TypeError(f"checkpoint must be a path, got {_validate.show(checkpoint)}")
            folder = os.path.dirname(os.path.abspath(checkpoint))
            if not os.path.isdir(folder):
                raise ValueError(f"checkpoint's folder {folder!r} does not exist")
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

        history = History()
        callback_list = [history, *(callbacks or [])]
        for callback in callback_list:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be gdsim.nn.callbacks.Callback instances, "
                                f"got {type(callback).__name__}")
            callback.set_model(self)
        self.history = history
        order = _BatchOrder(len(x), batch_size, mode, self._shuffle_stream(mode, seed, len(x)))
        self.stop_training = False
        for callback in callback_list:
            callback.on_train_begin()
        if resume and os.path.exists(checkpoint):
            initial_epoch = checkpoint_module.load(checkpoint, self, order, history)
        with self._numerics():
            for epoch in range(initial_epoch, epochs):
                if verbose:
                    print(f"Epoch {epoch + 1}/{epochs}", file=stream)
                bar = ProgressBar(order.steps, verbose, stream) if verbose else None
                logs = self._train_epoch(x, y, order, epoch, callback_list, bar)
                if x_val is not None:
                    val = self._evaluate_arrays(x_val, y_val, batch_size)
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

    def _train_epoch(self, x, y, order, epoch, callback_list, bar) -> dict[str, float]:
        for callback in callback_list:
            callback.on_epoch_begin(epoch)
        trackers = self._new_trackers()
        logs: dict[str, float] = {}
        batches = order.batches()
        coming = self._stage(x, batches[0])
        for step, index in enumerate(batches):
            for callback in callback_list:
                callback.on_train_batch_begin(step)
            xb, yb = coming.result(), y[index]
            if step + 1 < len(batches):
                coming = self._stage(x, batches[step + 1])
            loss, prediction = self._train_batch(xb, yb)
            logs = self._update_trackers(trackers, loss, yb, prediction)
            if bar is not None and step + 1 < order.steps:
                bar.update(step + 1, logs)
            for callback in callback_list:
                callback.on_train_batch_end(step, logs)
            if self.stop_training:
                break
        return logs

    def _stage(self, x: np.ndarray, index: np.ndarray | slice) -> Future:
        """The batch ``x[index]``, gathered, and prepared by the first layer (a convolution
        builds its patch matrix): on the background thread while the current step runs."""
        def gather_and_prepare() -> np.ndarray:
            xb = x[index]
            self.layers[0].prepare_input(xb)
            return xb

        if self.background:
            return background.submit(gather_and_prepare)
        done: Future = Future()
        done.set_result(x[index])
        return done

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

    # ------------------------------------------------------------------ metrics bookkeeping
    def _new_trackers(self) -> dict[str, list]:
        zero = self.dtype.type(0)
        return {"loss": [zero, zero], **{m.name: [zero, zero] for m in self.metrics}}

    def _update_trackers(self, trackers, loss, y, prediction) -> dict[str, float]:
        """Keras's ``Mean`` trackers: total += fl(n * L), count += n, result = total / count."""
        n = self.dtype.type(len(y))
        trackers["loss"][0] = trackers["loss"][0] + loss * n
        trackers["loss"][1] = trackers["loss"][1] + n
        for metric in self.metrics:
            values = metric(y, prediction)
            trackers[metric.name][0] = trackers[metric.name][0] + values.sum(dtype=self.dtype)
            trackers[metric.name][1] = trackers[metric.name][1] + n
        return {name: float(total / count) for name, (total, count) in trackers.items()}

    # ------------------------------------------------------------------ inference
    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
        trackers = self._new_trackers()
        logs: dict[str, float] = {}
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            prediction = self._forward(xb, training=False)
            logs = self._update_trackers(trackers, self.loss(yb, prediction), yb, prediction)
        return logs

    def evaluate(self, x: Any, y: Any, batch_size: int | None = None, verbose: int = 0,
                 return_dict: bool = False):
        """Loss (and metrics) in inference mode, averaged over batches as Keras does."""
        self._require_compiled("evaluate")
        x, y = self._prepare_xy(x, y)
        batch_size = 32 if batch_size is None else _validate.integer("batch_size", batch_size, minimum=1)
        with self._numerics():
            logs = self._evaluate_arrays(x, y, batch_size)
        if verbose:
            print(" -".join([""] + [f" {k}: {v:.4f}" for k, v in logs.items()]).strip(" -"))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x: Any, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """Outputs in inference mode (Dropout off, BatchNorm moving statistics), in batches."""
        x = self._prepare_x(x)
        batch_size = 32 if batch_size is None else _validate.integer("batch_size", batch_size, minimum=1)
        if not self.built:
            self.build(x.shape[1:])
        with self._numerics():
            outputs = [self._forward(x[start:start + batch_size], training=False)
                       for start in range(0, len(x), batch_size)]
        return np.concatenate(outputs, axis=0)

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        x = self._prepare_x(x)
        if not self.built:
            self.build(x.shape[1:])
        return self._forward(x, training=training)


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
