"""Seed question 000, "validation loss sometimes spikes": the run, and the answer taken apart.

The seed trains its CNN on ~8000 genuine/fake images with Adam(lr=1e-4), batch 32, 100
epochs, and sees the validation loss jump above the training loss and come back. The answer
names causes; each experiment isolates one of them in a seeded, measured run and returns plain
data (lists, floats, dicts) for a figure and a table. One module per idea, read in this order:

============================  =================================================================
:mod:`~.data`                 ``real_fake_images`` (the synthetic genuine/fake set), ``make_data``
:mod:`~.model`                ``seed_cnn`` (the question's layers), ``build_model`` (its compile)
:mod:`~.settings`             ``SEED``, ``EXPERIMENT``, ``QUICK`` settings; ``SPIKE_RULE``
:mod:`~.seed_run`             ``train_seed_run``: one run of the recipe, history, spikes, seconds
:mod:`~.reproduce`            ``gdsim reproduce cnn``: the curves figure, history JSON and CSV
:mod:`~.scores`               a checkpoint scored in inference mode / with BN batch statistics
:mod:`~.experiment`           one memoised seeded run of the reduced setting; spikes over seeds
:mod:`~.minibatch_noise`      batch 8 / 32 / 128 / full, and ``E||g_B - g||^2`` against B
:mod:`~.validation_size`      the same checkpoints scored on 200 / 2000 / 20000 images
:mod:`~.batchnorm`            BN moving vs batch statistics, momentum 0.9 vs 0.99, dropout
:mod:`~.step_size`            lr 1e-4 / 1e-3 / 1e-2 / 1e-1: overshoot spikes and divergence
:mod:`~.baseline`             a linear classifier on the pixels, the yardstick the CNN must beat
:mod:`~.results`              ``figures/cnn_results.json`` and its markdown spike table
============================  =================================================================

What the measurements say (``figures/cnn_results.json``): at the seed's setting the
validation loss spikes 9 times in 100 epochs, the training loss as Keras prints it never;
scored with BatchNorm batch statistics the same validation images never spike, while the
*training* set scored in inference mode spikes at 6 of the same epochs, and BN momentum 0.9
cuts the spikes to 1. The spikes are the inference-mode network (moving statistics that lag
the weights), not the validation sample: 200, 2000 and 20000 validation images spike at the
same epochs, and the sample's own spread (~1/sqrt(m)) is 1 % of the loss at m = 2000.
"""
