"""Seed question 001, "why does my loss increase every epoch?" (``shared/seeds/001_...``).

::

    model = keras.Sequential([keras.layers.Dense(units=1, input_shape=[1])])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    model.fit(xs, ys, epochs=500)            # xs = 1..20, ys = xs / 2

=============================  ===============================================================
:mod:`~.data`                  ``seed_regression``: xs = 1..n, ys = xs / 2
:mod:`~.regression`            the run with gdsim's ``Dense(1)``, and the unknown initial kernel
                               recovered from the numbers the question printed
:mod:`~.stability`             the loss Hessian in closed form: critical lr, loss ratio per
                               epoch, the largest n that converges
:mod:`~.reproduce`             ``gdsim reproduce``: every printed number beside gdsim's
=============================  ===============================================================
"""
