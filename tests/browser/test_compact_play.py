"""Fast play in the page: the server sends compact frames (batch means) and the page
draws the network, the numbers and the tooltips from them as it did from full frames."""

from __future__ import annotations

from tests.browser.conftest import Lab
from tests.browser.test_page import hue_sign, tooltip_value


def test_fast_play_draws_the_network_from_compact_frames(lab: Lab) -> None:
    page = lab.page
    lab.play_until("30", 20)  # (until the pause's state: every frame has arrived)
    lab.settled()  # and the page has painted the last of them
    frames = lab.messages("frame")
    assert frames and frames[-1]["compact"] is True
    fwd = lab.last("frame", phase="forward")
    assert fwd["compact"] is True and "L1.a" not in fwd["values"]
    it = fwd["iteration"]
    loss = lab.last("frame", phase="loss", iteration=it)["values"]
    upd = lab.last("frame", phase="update", iteration=it)["values"]
    means = fwd["values"]["L1.a.mean"]
    # neuron fills take the sign of the server's batch means
    scale = max(1.0, *(abs(m) for m in means))
    for j, m in enumerate(means):
        fill = page.eval_on_selector(f"[data-id='L1.a.{j}']", "e => e.style.fill")
        assert fill, "fast play must fill the neuron"
        if abs(m) / scale > 0.05:
            assert hue_sign(fill) == (1 if m > 0 else -1), (j, m, fill)
    # the numbers panel shows that iteration's batch loss
    assert abs(lab.number("#stat-batch-loss") - loss["loss.total"]) < 6e-4 * max(
        1.0, abs(loss["loss.total"]))
    # a neuron's tooltip gives its batch mean; an edge's the new weight
    page.focus(".net-svg [data-id='L1.a.0']")
    assert abs(tooltip_value(lab, "a") - means[0]) < 6e-5
    assert lab.last("frame", phase="update")["values"]["L1.W"] == upd["L1.W"]
    assert lab.errors == []
