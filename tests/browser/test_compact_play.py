"""Fast play in the page: the server sends compact frames (batch means) and the page
draws the network, the numbers and the tooltips from them as it did from full frames."""

from __future__ import annotations

import urllib.request
from typing import Any

import orjson

from server.protocol import encode_bytes
from server.run.compact import pack_batch
from tests.browser.conftest import SCREENS, Lab
from tests.browser.test_inspector import PANEL, open_inspector
from tests.browser.test_page import hue_sign, tooltip_value
from tests.helpers.packed import grouped_iterations


def test_fast_play_draws_the_network_from_compact_frames(lab: Lab) -> None:
    page = lab.page
    lab.play_until("30", 20)  # (until the pause's state: every frame has arrived)
    lab.settled()  # and the page has painted the last of them
    frames = lab.messages("frame")
    assert frames and frames[-1]["compact"] is True
    fwd = lab.last("frame", phase="forward")
    assert fwd["compact"] is True and "L1.a" not in fwd["values"]
    assert lab.binary_frames >= 10  # a learner playing alone gets packed frames too
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


def test_learners_playing_side_by_side_each_see_their_own_run_and_chain_rule(
        make_lab: Any) -> None:
    """Three learners press play at once: the server steps their runs together
    (engine/stacked.py), and each page still draws its own run; paused, one learner's
    inspector gives the very gradient its last frame showed (computed again from the
    iteration's inputs when asked), and checks it."""
    # a desk, a projector in presentation mode and a phone, the last two in Japanese
    labs = [make_lab(**SCREENS["desk"]).open(),
            make_lab(**SCREENS["projector"], locale="ja-JP").open(),
            make_lab(**SCREENS["phone"], locale="ja-JP").open()]
    labs[1].page.keyboard.press("p")
    labs[1].page.wait_for_function(
        "() => document.documentElement.classList.contains('present')")
    together = scrape(labs[0].base_url)
    for lab in labs:
        lab.page.select_option("#ctl-speed", "30")
        lab.page.click(".btn-toggle-play")
    me = labs[0]
    me.page.wait_for_function(
        "() => Number(document.querySelector('#stat-iteration').textContent) >= 45",
        timeout=30_000)
    mark = me.mark()
    me.page.click(".btn-toggle-play")
    me.page.wait_for_selector(".btn-toggle-play[aria-pressed='false']")
    me.wait_for_message("state", after=mark, playing=False)
    # (three runs at 30 it/s on a 60 Hz clock: two at least play on the same ticks)
    assert scrape(me.base_url) - together >= 20
    # their frames came packed (float64 in binary messages), and the pages drew them
    assert sum(lab.binary_frames for lab in labs) >= 20
    for lab, name in ((labs[1], "grouped-play-projector"), (labs[2], "grouped-play-phone")):
        lab.page.mouse.move(0, 0)
        lab.screenshot(f"{name}-ja")
        lab.page.locator(".lang-btn[data-lang='en']").dispatch_event("click")
        lab.page.wait_for_function("() => document.documentElement.lang === 'en'")
        lab.screenshot(f"{name}-en")
    last = me.last("frame", phase="update")
    it = last["iteration"]
    assert last["compact"] is True
    back = me.last("frame", phase="backward", iteration=it)["values"]
    msg = open_inspector(me, "L2.W.1.0", id="L2.W", index=[1, 0])
    assert msg["grad"] == back["L2.dW"][1][0]
    assert "✓" in me.text(f"{PANEL} [data-field='check']")
    me.screenshot("grouped-play-desk-en")
    me.page.click(".lang-btn[data-lang='ja']")
    me.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    me.screenshot("grouped-play-desk-ja")
    assert all(lab.errors == [] for lab in labs)


def scrape(base_url: str) -> float:
    """The server's count of fast-play iterations taken from a group (/metrics)."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("bpl_iterations_together_total"))


def test_the_page_decodes_packed_frames_to_the_numbers_their_json_holds(lab: Lab) -> None:
    """Real iterations of two runs stepped together, packed as the server sends them to
    a page (docs/protocol.md, "packed"), in a batch after a JSON message: the page's
    decoder gives the very messages the frames' JSON would have given, every number
    the same float64 (2-D weights row-major, scalars, the batch's indices); the next
    batch on the connection names the layout it already has, and decodes the same."""
    batches: list[tuple[bytes, list[Any]]] = []
    known: set[int] = set()  # (the connection's layouts)
    state = {"type": "state", "playing": True, "halted": None}
    for frames in grouped_iterations(2, hidden=[3, 5]):
        batches.append((pack_batch([encode_bytes(state), frames], known),
                        [state, *orjson.loads(encode_bytes(frames.item))]))
    assert b'"layout":' in batches[0][0] and b'"layout":' not in batches[1][0]
    got = lab.page.evaluate("""async (batches) => {
        const { decodePacked } = await import('/static/js/socket.js');
        const layouts = new Map();
        return batches.map((b) => decodePacked(new Uint8Array(b).buffer, layouts));
    }""", [list(data) for data, _ in batches])
    for decoded, (_, want) in zip(got, batches, strict=True):
        assert [m["type"] for m in decoded] == ["state", "frame", "frame", "frame", "frame"]
        assert decoded == want
    assert got[1][4]["iteration"] == got[0][4]["iteration"] + 1
    assert lab.errors == []
