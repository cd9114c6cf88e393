"""The lecture figures' scripts, one per figure (``NN_name.py``, in lecture order).

They ship with the package so that ``gdsim figures`` works after a plain ``pip install``;
``gdsim.figures`` finds, describes and runs them, and the documentation's gallery is built
from them. Each also runs on its own: ``python -m gdsim.gallery.01_divergence --quick``.
"""
