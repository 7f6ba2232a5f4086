"""The network drawing's loss ("L = 0.6931") in real Chromium: on a desk, a projector and
a phone, in both languages, with the default network and with the digits' (64 inputs,
ten outputs reaching down to the captions), it never lies on a layer caption, an output
neuron or its ȳ/t̄ labels, and is wholly in sight: a phone does not have to scroll the
drawing sideways to read it.

Boxes are measured on the screen (getBoundingClientRect). The screenshot is
docs/screenshots/network-loss-label-desk-en.png (run with BPL_SCREENSHOTS=1 to refresh it).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import SCREENS, Lab

NETWORKS = {
    "default": "/",
    "digits": "/?dataset=digits&hidden=16&opt=adam&lr=0.01&batch=32",  # 64-16-10
}

#: the loss label's screen box, and what it meets: each layer caption, output neuron and
#: ȳ/t̄ label whose box it shares more than a pixel² with; whether the drawing's frame
#: shows it whole, and by how many px that frame scrolls sideways
CLASHES = """() => {
  const box = e => e.getBoundingClientRect();
  const area = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left))
    * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const label = document.querySelector('.net-svg .loss-label');
  const l = box(label);
  const meets = sel => [...document.querySelectorAll(sel)]
    .filter(e => e.textContent !== '' || e.tagName === 'circle')
    .filter(e => area(box(e), l) > 1).map(e => e.textContent || e.dataset.id);
  const frame = document.querySelector('.net-scroll'), f = box(frame);
  return {
    text: label.textContent,
    box: [l.left, l.top, l.right, l.bottom].map(Math.round),
    captions: meets('.net-svg .layer-caption'),
    outputs: meets('.net-svg .node.output'),
    outLabels: meets('.net-svg .out-label'),
    inside: l.width > 0 && l.left >= f.left - 0.5 && l.right <= f.right + 0.5
      && l.top >= f.top - 0.5 && l.bottom <= f.bottom + 0.5,
    scrolls: frame.scrollWidth - frame.clientWidth,
  };
}"""


def switch_language(lab: Lab, lang: str) -> None:
    lab.page.click(f".lang-btn[data-lang='{lang}']")
    lab.page.wait_for_function("l => document.documentElement.lang === l", arg=lang)


def settle(lab: Lab) -> None:
    """The page's animations over (the loss fades in), and two frames painted."""
    lab.page.wait_for_function("() => document.getAnimations().length === 0", timeout=10_000)
    lab.settled()


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_loss_label_stays_clear_of_the_captions_and_outputs(make_lab: Any,
                                                                screen: str) -> None:
    for net, path in NETWORKS.items():
        lab: Lab = make_lab(**SCREENS[screen], locale="en-US", reduced_motion="reduce").open(path)
        page = lab.page
        if net == "digits":
            assert lab.wait_for_run(dataset="digits")["net"]["sizes"][-1] == 10
        if screen == "projector":
            page.keyboard.press("p")  # the teacher's key for presentation mode
            page.wait_for_function(
                "() => document.documentElement.classList.contains('present')")
        lab.step()  # forward
        lab.step()  # loss: the label shows L
        for lang in ("en", "ja"):
            if lang != page.evaluate("() => document.documentElement.lang"):
                switch_language(lab, lang)
            settle(lab)
            where = f"{screen} {net} {lang}"
            seen = page.evaluate(CLASHES)
            assert seen["text"].startswith("L = "), where
            assert seen["captions"] == [], f"{where}: the loss lies on a caption: {seen}"
            assert seen["outputs"] == [] and seen["outLabels"] == [], f"{where}: {seen}"
            assert seen["inside"], f"{where}: the loss is not wholly in sight: {seen}"
            assert seen["scrolls"] <= 0, f"{where}: the drawing scrolls sideways: {seen}"
            if (screen, net, lang) == ("desk", "digits", "en"):
                lab.shot_dir.mkdir(parents=True, exist_ok=True)
                page.locator("[data-slot='network']").screenshot(
                    path=str(lab.shot_dir / "network-loss-label-desk-en.png"))
        assert lab.errors == []
