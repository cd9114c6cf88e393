"""The seed questions, reproduced and taken apart: case studies built on gdsim's core.

gdsim exists to explain two real questions (``shared/seeds/README.md``). Their data, models,
runs and experiments live here, apart from the core they are built on (``optim``,
``schedules``, ``surfaces``, ``noise``, ``simulate``, ``analysis``, ``spikes``, ``nn``,
``plots``, ``datasets``, ...). Data flows one way: the core never imports ``gdsim.studies``
(``tests/test_studies_boundary.py`` checks it), so a student can read the core without them.

:mod:`gdsim.studies.xs_ys`
    "Why does my loss increase every epoch?": ``Dense(1)`` fitted to ``ys = xs / 2`` by SGD
    (``gdsim reproduce``, ``gdsim regression``, ``gdsim analyze regression``).
:mod:`gdsim.studies.cnn`
    "Validation loss sometimes spikes": the question's CNN on genuine/fake images, and one
    experiment per cause the answer names (``gdsim reproduce cnn``, figures 09-13).
:mod:`gdsim.studies.edge_of_stability`
    Full-batch GD and Adam at the edge of stability (Cohen et al.): sharpness against 2/eta
    and 38/eta (``gdsim reproduce eos``, figures 15-16).
"""
