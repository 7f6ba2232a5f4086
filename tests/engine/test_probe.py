"""engine.probe: a few samples in evaluation mode, as the page's focused sample and
hand-edit redraw need them."""

from __future__ import annotations

import numpy as np

from engine import losses, probe
from engine.config import RunConfig
from engine.stepper import Stepper


def test_sample_values_are_the_evaluation_forward_and_each_samples_loss() -> None:
    st = Stepper(RunConfig(dataset="circle", hidden=(3, 2), norm="batch", dropout=0.5))
    st.train(5)
    x, t = st.data.x_train[:4], st.data.t_train[:4]
    v = probe.sample_values(st.net, x, t)
    caches = st.net.forward(x, train=False)
    for l, c in enumerate(caches, start=1):
        np.testing.assert_array_equal(v[f"L{l}.a"], c.a)
    res = losses.compute(st.net.spec.loss, caches[-1].z, caches[-1].a, t, None)
    np.testing.assert_array_equal(v["loss.per_sample"], res.per_sample)
    assert v["loss.data"] == res.mean
    # evaluation mode: the same sample gives the same numbers alone or in a batch
    one = probe.sample_values(st.net, x[:1], t[:1])
    np.testing.assert_allclose(one["y"][0], v["y"][0], rtol=1e-15)
    means = probe.batch_means(v, st.net.depth)
    np.testing.assert_array_equal(means["L1.z"], v["L1.z"].mean(axis=0))
