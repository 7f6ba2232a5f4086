"""Where things are on the three screens, as the people in front of them would notice.

A teacher's desk (1280×800), a projector (1280×720 and 1920×1080, presentation
mode) and a student's phone (390×844, touch), in both languages where the length
of the words matters. Each test names the elements a user looks for and checks
that they are inside the window, that no two of them overlap, and that nothing
scrolls sideways; then what the user does there: the projector shows the banner,
the network, the map, the chart the teacher picked and the inspector at once
without scrolling; the inspector opens beside the network (a sheet on a phone;
on a desk under the map, which stays in sight to pick a sample), takes the
focus, closes with Escape and gives the focus back; on a phone the run buttons
stay where they are through the four phases, every tap target is at least
44 px, the loss is on the first screen with the network, and the help speaks
of taps; eight hidden layers keep their captions apart on every screen.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.browser.conftest import Lab

DESK = {"viewport": {"width": 1280, "height": 800}}
PROJECTORS = ({"width": 1280, "height": 720}, {"width": 1920, "height": 1080})
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
LOCALE = {"en": "en-US", "ja": "ja-JP"}
#: the run buttons a lesson presses again and again
RUN_BUTTONS = (".btn-step-phase", ".btn-step-iteration", ".btn-toggle-play", ".btn-reset")
#: the smallest tap target on a touch screen (CSS px), the usual guideline
TAP = 44
#: an edge in the middle of the default 2-4-4-1 drawing (hidden 1, unit 2 → hidden 2, unit 1)
EDGE = ".net-svg [data-id='L2.W.1.0']"

#: boxes (CSS px, viewport coordinates: left, top, right, bottom) of what a user looks for;
#: "network" is the drawing itself (every neuron and layer caption), not its frame
BOXES = """sels => {
  const box = e => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom]; };
  const union = es => { const b = es.map(box);
    return [Math.min(...b.map(x => x[0])), Math.min(...b.map(x => x[1])),
            Math.max(...b.map(x => x[2])), Math.max(...b.map(x => x[3]))]; };
  const out = {};
  for (const [name, sel] of Object.entries(sels)) {
    if (name === 'network') {
      out[name] = union([...document.querySelectorAll(
        '.net-svg circle.node, .net-svg .layer-caption')]);
      continue;
    }
    const e = document.querySelector(sel);
    const visible = e && e.getClientRects().length > 0
      && getComputedStyle(e).visibility !== 'hidden';
    out[name] = visible ? box(e) : null;
  }
  return { boxes: out, vw: document.documentElement.clientWidth, vh: window.innerHeight,
           scrollWidth: document.documentElement.scrollWidth };
}"""

#: every layer caption's box and text
CAPTIONS = """() => [...document.querySelectorAll('.net-svg .layer-caption')].map(e => {
  const r = e.getBoundingClientRect();
  return [e.textContent, r.left, r.top, r.right, r.bottom];
})"""

#: tap targets anywhere on the page (shown, not inside a closed dialog, not a visually hidden
#: input behind its button), with the size a finger finds: an input's box joined with its
#: labels' (tapping a label is tapping its input)
TAPS = """() => [...document.querySelectorAll(
    "button, select, input:not([type='hidden']), summary, a[href]:not(p a, li a)")]
  .filter(e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'
          && getComputedStyle(e).opacity !== '0' && e.getBoundingClientRect().right > 0
          && !e.closest('dialog:not([open]), .sr-only'))
  .map(e => { const boxes = [e, ...(e.labels || [])].map(x => x.getBoundingClientRect())
      .filter(r => r.width > 0);
    const w = Math.max(...boxes.map(r => r.right)) - Math.min(...boxes.map(r => r.left));
    const h = Math.max(...boxes.map(r => r.bottom)) - Math.min(...boxes.map(r => r.top));
    return [e.id || e.className || e.tagName, (e.textContent || '').trim().slice(0, 20),
            Math.round(w), Math.round(h)]; })"""


def look(lab: Lab, sels: dict[str, str]) -> dict[str, Any]:
    seen: dict[str, Any] = lab.page.evaluate(BOXES, sels)
    return seen


def settle(lab: Lab) -> None:
    """The page's animations over, and two frames painted."""
    lab.page.wait_for_function("() => document.getAnimations().length === 0", timeout=10_000)
    lab.settled()


def overlap(a: list[float], b: list[float]) -> float:
    """The area two boxes share (CSS px²)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def assert_laid_out(seen: dict[str, Any], where: str) -> None:
    """Each named box inside the window, no two overlapping, no sideways scroll."""
    vw, vh, boxes = seen["vw"], seen["vh"], seen["boxes"]
    missing = [name for name, b in boxes.items() if b is None]
    assert missing == [], f"{where}: not shown: {missing}"
    outside = {name: [round(v) for v in b] for name, b in boxes.items()
               if b[0] < -0.5 or b[1] < -0.5 or b[2] > vw + 0.5 or b[3] > vh + 0.5}
    assert outside == {}, f"{where}: outside the {vw}×{vh} window: {outside}"
    names = list(boxes)
    clashes = [(p, q, round(overlap(boxes[p], boxes[q])))
               for k, p in enumerate(names) for q in names[k + 1:]
               if overlap(boxes[p], boxes[q]) > 1]
    assert clashes == [], f"{where}: overlapping: {clashes}"
    assert seen["scrollWidth"] <= vw, f"{where}: scrolls sideways ({seen['scrollWidth']} > {vw})"


def open_inspector(lab: Lab) -> None:
    """Click (tap) an edge and wait for its inspector to be filled in."""
    mark = lab.mark()
    if lab.page.evaluate("matchMedia('(pointer: coarse)').matches"):
        lab.page.tap(EDGE, force=True)
    else:
        lab.page.click(EDGE, force=True)
    lab.wait_for_message("inspect", after=mark, id="L2.W")
    lab.page.wait_for_selector(".bpl-inspector:not([hidden]) .bpl-insp-head")
    settle(lab)


def assert_focus_in_inspector_then_back(lab: Lab, where: str) -> None:
    """The inspector has the focus; Escape closes it and the focus is on the edge again."""
    inside = lab.page.evaluate("() => !!document.activeElement.closest('.bpl-inspector')")
    assert inside, f"{where}: the inspector did not take the focus"
    mark = lab.mark()
    lab.page.keyboard.press("Escape")
    lab.wait_for_message("inspect", after=mark, id=None)
    lab.page.wait_for_selector(".bpl-inspector", state="hidden")
    back = lab.page.evaluate(
        "() => document.activeElement.dataset.id || document.activeElement.tagName")
    assert back == "L2.W.1.0", f"{where}: the focus went to {back}, not the edge that opened it"


def test_escape_closes_the_inspector_wherever_the_focus_went(make_lab: Any) -> None:
    """Escape closes the inspector after the focus has left it (a click on the language
    switch, on the page's background): it did so only with the focus inside."""
    lab = make_lab(**DESK).open()
    lab.step()
    settle(lab)
    open_inspector(lab)
    lab.page.click(".lang-btn[data-lang='en']")
    assert not lab.page.evaluate("() => !!document.activeElement.closest('.bpl-inspector')")
    mark = lab.mark()
    lab.page.keyboard.press("Escape")
    lab.wait_for_message("inspect", after=mark, id=None)
    lab.page.wait_for_selector(".bpl-inspector", state="hidden")
    mark = lab.mark()
    lab.page.keyboard.press("Escape")  # nothing open: nothing sent
    lab.sync()
    assert [m for m in lab.received[mark:] if m.get("type") == "inspect"] == []
    assert lab.errors == []


# ---- the desk ---------------------------------------------------------------------------

def test_on_a_desk_the_inspector_opens_beside_the_network_and_takes_the_focus(
        make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    lab.step()
    settle(lab)
    open_inspector(lab)
    # the map stays in sight beside it: a click on a data point follows that sample
    sels = {"banner": ".banner", "network": "", "step phase": ".btn-step-phase",
            "play": ".btn-toggle-play", "inspector": ".bpl-inspector",
            "map": ".bpl-maps .bpl-map-canvas"}
    seen = look(lab, sels)
    assert_laid_out(seen, "desk, inspector open")
    # beside the network: level with it, to its right
    net, insp = seen["boxes"]["network"], seen["boxes"]["inspector"]
    assert insp[0] >= net[2] and insp[1] < net[3] and insp[3] > net[1], (net, insp)
    assert_focus_in_inspector_then_back(lab, "desk")


# ---- the projector ----------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "ja"])
def test_a_projector_shows_banner_network_map_chart_and_inspector_without_scrolling(
        make_lab: Any, lang: str) -> None:
    lab = make_lab(viewport=PROJECTORS[0], locale=LOCALE[lang]).open()
    page = lab.page
    page.keyboard.press("p")  # the teacher's key for presentation mode
    page.wait_for_function("() => document.documentElement.classList.contains('present')")
    lab.step()
    sels = {"banner": ".banner", "network": "", "map": ".bpl-map-canvas",
            "chart": ".bpl-chart[data-chart='loss'] canvas",
            "step phase": ".btn-step-phase", "step iteration": ".btn-step-iteration",
            "play": ".btn-toggle-play"}
    settle(lab)
    assert_laid_out(look(lab, sels), f"projector 1280×720 {lang}, the loss chart")
    # the other panels folded below the first screen, a scroll away
    folded = page.evaluate("""() => ['timeline', 'landscape', 'activation'].map(s =>
        document.querySelector(`[data-slot="${s}"]`).getBoundingClientRect().top)""")
    assert min(folded) >= page.viewport_size["height"], folded
    # the teacher picks the chart the class sees
    page.select_option("#chart-projector", "accuracy")
    sels["chart"] = ".bpl-chart[data-chart='accuracy'] canvas"
    for size in PROJECTORS:
        page.set_viewport_size(size)
        for inspecting in (False, True):
            if inspecting:
                open_inspector(lab)
            settle(lab)
            where = (f"projector {size['width']}×{size['height']} {lang}"
                     + (" inspector" if inspecting else ""))
            seen = look(lab, {**sels, **({"inspector": ".bpl-inspector"} if inspecting else {})})
            assert_laid_out(seen, where)
            # one chart: the one picked
            shown = page.evaluate("""() => [...document.querySelectorAll('.bpl-chart')]
                .filter(c => c.getClientRects().length).map(c => c.dataset.chart)""")
            assert shown == ["accuracy"], (where, shown)
            # big enough to read from the back: the network and the map are not thumbnails
            b = seen["boxes"]
            assert b["network"][3] - b["network"][1] >= 0.3 * seen["vh"], (where, b["network"])
            assert b["map"][2] - b["map"][0] >= 200, (where, b["map"])
            assert b["chart"][3] - b["chart"][1] >= 100, (where, b["chart"])
            # the run's buttons, its speed and "All panels" on one row (beside the inspector
            # "All panels" took a second one, 45 px of the network's height)
            centres = page.evaluate("""() => [...document.querySelectorAll(
                '.ctl-run .btn, .ctl-run .field, .present-all-btn')].filter(e => e.getClientRects()
                .length).map(e => {
                  const r = e.getBoundingClientRect();
                  return (r.top + r.bottom) / 2;
                })""")
            assert max(centres) - min(centres) < 12, (where, centres)
        mark = lab.mark()
        page.keyboard.press("Escape")
        lab.wait_for_message("inspect", after=mark, id=None)
        page.wait_for_selector(".bpl-inspector", state="hidden")


# ---- the phone --------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "ja"])
def test_on_a_phone_the_run_buttons_stay_put_through_the_four_phases(
        make_lab: Any, lang: str) -> None:
    lab = make_lab(**PHONE, locale=LOCALE[lang]).open()
    sels = {name: name for name in RUN_BUTTONS}
    where: dict[str, Any] = {}
    for phase in ("ready", "forward", "loss", "backward", "update"):
        if phase != "ready":
            mark = lab.mark()
            lab.page.tap(".btn-step-phase")
            lab.wait_for_message("frame", after=mark, phase=phase)
            lab.wait_for_message("state", after=mark)
        settle(lab)
        seen = look(lab, sels)
        assert_laid_out(seen, f"phone {lang} {phase}")
        where[phase] = seen["boxes"]
    def shift(box: list[float], was: list[float]) -> list[int]:
        return [round(v - w) for v, w in zip(box, was, strict=True)]

    moved = {phase: {b: shift(box, where["ready"][b]) for b, box in boxes.items()
                     if any(shift(box, where["ready"][b]))}
             for phase, boxes in where.items()}
    assert all(m == {} for m in moved.values()), f"{lang}: the run buttons moved: {moved}"
    # a tapped button does not stay grey as if still pressed (a touch screen's sticky hover)
    mark = lab.mark()
    lab.page.tap(".tl-back-iteration")  # (the timeline's "◀◀ Iteration" stayed grey)
    lab.wait_for_message("state", after=mark)
    lab.settled()
    colour = "b => [b.matches(':hover'), getComputedStyle(b).backgroundColor]"
    hovered, tapped = lab.page.eval_on_selector(".tl-back-iteration", colour)
    _, idle = lab.page.eval_on_selector(".btn-reset", colour)
    assert tapped == idle, (hovered, tapped, idle)  # (Chromium keeps :hover after a tap)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_on_a_phone_every_tap_target_is_44_px_and_the_loss_shows_with_the_network(
        make_lab: Any, lang: str) -> None:
    lab = make_lab(**PHONE, locale=LOCALE[lang]).open()
    lab.step("iteration")
    settle(lab)
    # the network and the loss on the first screen together, beside the run buttons
    sels = {"banner": ".banner", "network": "", "batch loss": ".stat-batch_loss",
            "train loss": ".stat-train_loss", **{b: b for b in RUN_BUTTONS}}
    assert_laid_out(look(lab, sels), f"phone {lang}")
    assert lab.number("#stat-batch-loss") > 0
    # big enough for a finger, everywhere on the page (the advanced settings unfolded)
    lab.page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    small = [t for t in lab.page.evaluate(TAPS) if t[2] < TAP or t[3] < TAP]
    assert small == [], f"{lang}: smaller than {TAP}×{TAP} px: {small}"


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_on_a_phone_the_inspector_is_a_sheet_over_the_run_buttons_and_the_help_speaks_of_taps(
        make_lab: Any, lang: str) -> None:
    lab = make_lab(**PHONE, locale=LOCALE[lang]).open()
    lab.step()
    settle(lab)
    open_inspector(lab)
    sels = {"network": "", "inspector": ".bpl-inspector", **{b: b for b in RUN_BUTTONS}}
    seen = look(lab, sels)
    assert_laid_out(seen, f"phone {lang}, inspector open")
    insp = seen["boxes"]["inspector"]
    assert insp[0] <= 1 and insp[2] >= seen["vw"] - 1, \
        f"{lang}: not a sheet across the screen: {insp}"
    assert insp[3] - insp[1] >= 0.3 * seen["vh"], f"{lang}: too short to read: {insp}"
    assert_focus_in_inspector_then_back(lab, f"phone {lang}")

    # the help, opened with a tap: what to tap, no keys to press
    lab.page.tap(".help-btn")
    lab.page.wait_for_selector("dialog.help[open]")
    help_ = lab.page.evaluate("""() => { const d = document.querySelector('dialog.help');
        const shown = [...d.querySelectorAll('*')].filter(e => e.getClientRects().length);
        return { kbd: shown.filter(e => e.tagName === 'KBD').length, text: d.innerText }; }""")
    assert help_["kbd"] == 0, f"{lang}: keyboard keys in a touch screen's help"
    words = {"en": ("Tap", "Step phase", "full speed"),
             "ja": ("タップ", "1フェーズ進む", "最高速")}[lang]
    assert all(w in help_["text"] for w in words), (lang, help_["text"][:300])
    keys = ("Keyboard", "Space", "キーボード", "スペース")
    assert not any(w in help_["text"] for w in keys), help_["text"]


# ---- a deep network, every screen -------------------------------------------------------

SCREENS = {
    "desk": DESK,
    "projector": {"viewport": PROJECTORS[0]},
    "phone": PHONE,
}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_eight_hidden_layers_keep_their_captions_apart(make_lab: Any, screen: str) -> None:
    lab = make_lab(**SCREENS[screen]).open()
    page = lab.page
    # eight hidden layers of six, through the page's own controls
    page.fill("#ctl-neurons", "6")
    page.dispatch_event("#ctl-neurons", "change")
    lab.wait_for_run(hidden=[6, 6])
    page.fill("#ctl-layers", "8")
    page.dispatch_event("#ctl-layers", "change")
    lab.wait_for_run(hidden=[6] * 8)
    page.wait_for_function(
        "() => document.querySelectorAll('.net-svg .layer-caption').length === 10")
    if screen == "projector":
        page.evaluate("() => document.activeElement.blur()")  # out of the settings' field
        page.keyboard.press("p")
        page.wait_for_function("() => document.documentElement.classList.contains('present')")
    for lang in ("en", "ja"):
        if lang == "ja":
            page.click(".lang-btn[data-lang='ja']")
            page.wait_for_function("() => document.documentElement.lang === 'ja'")
        for inspecting in (False, True) if screen != "phone" else (False,):
            if inspecting:
                open_inspector(lab)  # the drawing narrows on a projector
            settle(lab)
            where = f"{screen} {lang}" + (" inspector" if inspecting else "")
            caps = page.evaluate(CAPTIONS)
            assert len(caps) == 10, where
            clashes = [(a[0], b[0]) for k, a in enumerate(caps) for b in caps[k + 1:]
                       if overlap(a[1:], b[1:]) > 0]
            assert clashes == [], f"{where}: captions overlap: {clashes}"
            # still legible, and every layer named
            assert min(c[4] - c[2] for c in caps) >= 9, (where, caps)
            assert all(c[0].strip() for c in caps), (where, caps)
            seen = look(lab, {"banner": ".banner"})
            assert seen["scrollWidth"] <= seen["vw"], f"{where}: the page scrolls sideways"
            if inspecting:
                mark = lab.mark()
                page.keyboard.press("Escape")
                lab.wait_for_message("inspect", after=mark, id=None)
    if screen == "phone":
        # the drawing scrolls inside its frame, at least 45 px from a layer to the next
        frame = page.evaluate("""() => { const s = document.querySelector('.net-scroll');
            const svg = document.querySelector('.net-svg');
            return [s.scrollWidth, s.clientWidth, svg.getBoundingClientRect().width]; }""")
        assert frame[2] >= 9 * 45 and frame[0] > frame[1], frame
        # and says so (an 8-layer network was cut at layer 6 with no cue that it scrolls),
        # until scrolled to its end
        cue = page.locator(".net-more")
        assert cue.is_visible() and cue.text_content() == "横にスクロールすると残りの層が見えます →"
        page.eval_on_selector(".net-scroll", "s => { s.scrollLeft = s.scrollWidth; }")
        page.wait_for_function("() => document.querySelector('.net-more').hidden")
    else:
        assert page.locator(".net-more").is_hidden(), screen  # the whole drawing is in sight
    # the neurons of neighbouring layers never overlap (the circles, not only the captions)
    rims = page.evaluate("""() => [...document.querySelectorAll('.net-svg circle.node')].map(c => {
        const r = c.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    touching = sum(1 for k, a in enumerate(rims) for b in rims[k + 1:] if overlap(a, b) > 0)
    assert touching == 0, f"{screen}: {touching} pairs of neurons overlap"


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_inputs_names_stay_apart_beside_a_wide_layer(make_lab: Any, screen: str) -> None:
    """Beside layers of 32 units the two inputs were drawn 11 px apart, their names "x1"
    over "x2" overlapping: the inputs keep room for their names."""
    lab = make_lab(**SCREENS[screen]).open("/?dataset=circle&hidden=32,32")
    lab.wait_for_run(hidden=[32, 32])
    settle(lab)
    boxes = lab.page.evaluate("""() => [...document.querySelectorAll('.net-svg text.io-label')]
        .map(e => { const r = e.getBoundingClientRect();
                    return [e.textContent, r.left, r.top, r.right, r.bottom]; })""")
    assert [b[0] for b in boxes] == ["x1", "x2"], boxes
    assert overlap(boxes[0][1:], boxes[1][1:]) == 0, (screen, boxes)
    assert lab.errors == []


#: every output's label box (ȳ and t̄), in the order of the outputs, and the drawing's box
OUT_LABELS = """() => {
  const boxes = [...document.querySelectorAll('.net-svg text.out-label')].map(e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom, e.textContent];
  });
  const s = document.querySelector('.net-svg').getBoundingClientRect();
  return { boxes, svg: [s.left, s.top, s.right, s.bottom] };
}"""


@pytest.mark.parametrize("screen", list(SCREENS))
def test_ten_outputs_labels_read_one_by_one(make_lab: Any, screen: str) -> None:
    """The handwritten digits' ten outputs, after a loss phase: each output's ȳ and t̄ are
    on a box of their own, inside the drawing (on a projector each ran into the next)."""
    lab = make_lab(**SCREENS[screen]).open("/?dataset=digits&hidden=16&batch=32")
    lab.wait_for_run(timeout=30, dataset="digits")
    if screen == "projector":
        lab.page.keyboard.press("p")
        lab.page.wait_for_function("() => document.documentElement.classList.contains('present')")
    lab.step("phase")
    lab.step("phase")  # the loss: every output's mean output and target
    lab.settled()
    got = lab.page.evaluate(OUT_LABELS)
    boxes = got["boxes"]
    assert len(boxes) == 10 and all("ȳ = " in b[4] and "t̄ = " in b[4] for b in boxes)
    for upper, lower in itertools.pairwise(boxes):
        assert upper[3] <= lower[1] + 0.5, (screen, upper, lower)  # no overlap
    _, _, right, bottom = got["svg"]
    for b in boxes:
        assert b[2] <= right + 0.5 and b[3] <= bottom + 0.5, (screen, b, got["svg"])
    # each output says which digit it stands for, in its node (colours alone did)
    names = lab.page.eval_on_selector_all(
        ".net-svg .class-name", "ts => ts.map(t => [t.textContent, t.getAttribute('visibility'), "
        "t.getBoundingClientRect().height])")
    assert [n[0] for n in names] == [str(k) for k in range(10)], names
    assert all(n[1] == "visible" and n[2] > 0 for n in names), names
    lab.screenshot(f"digits-outputs-{screen}")
    assert lab.errors == []
