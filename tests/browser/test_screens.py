"""The three screens the page is used on, in both languages, as a user sees them.

A teacher's desk (1280×800), a projector (1280×720, presentation mode; and
1920×1080 with the inspector open) and a student's phone (390×844, touch; and
its inspector sheet), each in English and Japanese. On each:
nothing scrolls sideways; the phase banner, the network drawing and the step
controls are on the first screen and nothing covers them; the words are in the
chosen language; the screenshot is a picture, not a blank page (decoded in the
browser through a canvas). Presentation mode sets clearly larger type than the
desk, and the phone's controls are big enough to tap.

These are also the screenshots of docs/screenshots/ (run with BPL_SCREENSHOTS=1
to refresh them); the other combinations are checked without being saved.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.browser.conftest import Lab

DESK = {"viewport": {"width": 1280, "height": 800}}
PROJECTOR = {"width": 1280, "height": 720}  # the desk's page, resized, in presentation mode
BIG_PROJECTOR = {"width": 1920, "height": 1080}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}

#: what must be on the first screen, uncovered: CSS selector → what a user calls it
ON_SCREEN = {
    "[data-slot='banner']": "the phase banner",
    ".banner-title": "the banner's title",
    ".btn-step-phase": "Step phase",
    ".btn-step-iteration": "Step iteration",
    ".btn-toggle-play": "Play",
}
#: buttons pressed again and again while following a lesson
RUN_BUTTONS = (".btn-step-phase", ".btn-step-iteration", ".btn-toggle-play", ".btn-reset")
#: tap target sizes on the phone (CSS px): the run buttons ~40 (their min-height is 38),
#: anything else tappable on the first screen at least 30 (the language buttons)
RUN_TAP, ANY_TAP = 38, 30
#: words written the same way in Japanese texts: names, the dataset, the other language's
#: button, axis ids
SAME_IN_JA = {"English", "XOR", "tanh", "sigmoid", "ReLU", "ELU", "MSE", "Adam", "RMSprop",
              "Adagrad", "SGD", "CSV"}  # CSV: the file format, as Japanese writes it
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")

#: one look at the page: what a user sees on the first screen (CSS px, viewport coordinates)
MEASURE = """sel => {
  window.scrollTo(0, 0);  // the first screen; page and viewport coordinates agree
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const rect = e => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom]; };
  const inView = e => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < vh && r.right > 0 && r.left < vw
      && getComputedStyle(e).visibility !== 'hidden'; };
  // on the first screen and on top at its centre (no dialog, notice or header over it)
  const uncovered = e => { const r = e.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= vw + 0.5
          && r.bottom <= vh + 0.5)) return false;
    const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    return !!hit && (hit === e || e.contains(hit)
                     || (e.tagName === 'circle' && !!hit.closest('.net-svg'))); };
  const svg = document.querySelector('.net-svg');
  const drawn = [...svg.querySelectorAll('circle.node, .layer-caption')];
  const nodes = [...svg.querySelectorAll('circle.node')];
  const boxes = drawn.map(rect);
  // every text node on the first screen, outside formulas and the options of closed selects
  const texts = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const p = n.parentElement;
    if (!n.textContent.trim() || p.closest('math, select, script, style, .sr-only')) continue;
    if (inView(p)) texts.push([n.textContent.trim(), !!p.closest('.lang-btn')]);
  }
  const taps = [...document.querySelectorAll(
      "button, select, input:not([type='hidden']), summary, a[href], label:has(input)")]
    .filter(e => inView(e) && !e.matches('label:has(input) input, .sr-only'))
    .map(e => { const r = e.getBoundingClientRect(), text = (e.textContent || '').trim();
      return [e.className || e.tagName, text.slice(0, 24), r.width, r.height]; });
  const px = (s, f = 'fontSize') => parseFloat(getComputedStyle(document.querySelector(s))[f]);
  return {
    scrollWidth: document.documentElement.scrollWidth, width: vw, height: vh,
    network: [Math.min(...boxes.map(b => b[0])), Math.min(...boxes.map(b => b[1])),
              Math.max(...boxes.map(b => b[2])), Math.max(...boxes.map(b => b[3]))],
    nodes: nodes.length, networkUncovered: nodes.filter(uncovered).length,
    uncovered: Object.fromEntries(sel.map(s => [s, uncovered(document.querySelector(s))])),
    texts, taps,
    type: { root: px('html'), title: px('.banner-title'), button: px('.btn-step-phase'),
            caption: document.querySelector('.layer-caption').getBoundingClientRect().height },
  };
}"""

#: a screenshot decoded through a canvas: its size, distinct colours, and the share of
#: the palette's blue and vermillion inside the network's rectangle
PIXELS = """async ([b64, net]) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = new OffscreenCanvas(img.width, img.height);
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(img, 0, 0);
  const look = (x, y, w, h) => {
    const d = g.getImageData(x, y, w, h).data, seen = new Set();
    let blue = 0, vermillion = 0;
    for (let i = 0; i < d.length; i += 4) {
      const r = d[i], gr = d[i + 1], b = d[i + 2];
      seen.add((r << 16) | (gr << 8) | b);
      if (b > r + 80 && b > gr + 30) blue++;
      else if (r > b + 80 && r > gr + 40) vermillion++;
    }
    const n = d.length / 4;
    return { colours: seen.size, blue: blue / n, vermillion: vermillion / n };
  };
  const [x0, y0, x1, y1] = net.map(Math.round);
  return { width: img.width, height: img.height, page: look(0, 0, img.width, img.height),
           net: look(x0, y0, x1 - x0, y1 - y0) };
}"""


def look(lab: Lab) -> dict[str, Any]:
    """What the first screen of ``lab`` shows (see MEASURE)."""
    seen: dict[str, Any] = lab.page.evaluate(MEASURE, list(ON_SCREEN))
    return seen


def settle(lab: Lab) -> None:
    """Wait until the page's animations (a step's flow, a language's relayout) are over."""
    lab.page.wait_for_function("() => document.getAnimations().length === 0", timeout=10_000)


def set_language(lab: Lab, lang: str) -> None:
    lab.page.click(f".lang-btn[data-lang='{lang}']")
    lab.page.wait_for_function("l => document.documentElement.lang === l", arg=lang)
    settle(lab)


def assert_screen(lab: Lab, seen: dict[str, Any], png: bytes, lang: str) -> None:
    """What a user of any screen would notice, checked on ``seen`` (``look``) and ``png``
    (a full-page screenshot of the same state)."""
    where = f"{seen['width']}x{seen['height']} {lang}"
    # nothing scrolls sideways
    assert seen["scrollWidth"] <= seen["width"], (where, seen["scrollWidth"])
    # the banner and the step controls are on the first screen, nothing over them
    hidden = [ON_SCREEN[s] for s, ok in seen["uncovered"].items() if not ok]
    assert hidden == [], f"{where}: not on the first screen or covered: {hidden}"
    # the whole network drawing (every neuron and layer caption) is on the first screen
    left, top, right, bottom = seen["network"]
    assert left >= 0 and top >= 0 and right <= seen["width"] and bottom <= seen["height"], \
        (where, seen["network"])
    assert seen["networkUncovered"] == seen["nodes"] > 0, (where, seen["networkUncovered"])

    # the words are in the chosen language
    words = " ".join(t for t, _ in seen["texts"])
    if lang == "ja":
        english = {w for t, _ in seen["texts"] for w in re.findall(r"[A-Za-z]{3,}", t)}
        assert english - SAME_IN_JA == set(), f"{where}: English left: {english - SAME_IN_JA}"
        for sel in (".banner-title", ".btn-step-phase", ".btn-toggle-play", ".layer-caption"):
            assert JAPANESE.search(lab.text(sel)), (where, sel, lab.text(sel))
    else:
        japanese = [t for t, in_lang_button in seen["texts"]
                    if JAPANESE.search(t) and not in_lang_button]
        assert japanese == [], f"{where}: Japanese left: {japanese}"
        assert "Step phase" in words and "Play" in words, where

    # the screenshot is a picture of the page: full width, many colours, and the network
    # drawn in the palette's two hues
    dpr = lab.page.evaluate("devicePixelRatio")
    net = [v * dpr for v in seen["network"]]
    px = lab.page.evaluate(PIXELS, [base64.b64encode(png).decode(), net])
    assert px["width"] == round(seen["width"] * dpr), (where, px["width"])
    assert px["page"]["colours"] >= 2000, (where, px["page"])
    assert px["net"]["colours"] >= 500, (where, px["net"])
    assert px["net"]["blue"] >= 0.01 and px["net"]["vermillion"] >= 0.01, (where, px["net"])


def full_page(lab: Lab, name: str | None = None, whole: bool = True) -> bytes:
    """A full-page PNG (or, ``whole`` False, the first screen: a phone's bar fixed at the
    bottom would land mid-page on a full-page picture); saved as
    docs/screenshots/``name``.png (when refreshing) if named."""
    lab.page.mouse.move(0, 0)  # no hover highlight left where the last click was
    if name is not None and whole:
        return lab.screenshot(name).read_bytes()
    png: bytes = lab.page.screenshot(full_page=whole)
    if name is not None:
        lab.shot_dir.mkdir(parents=True, exist_ok=True)
        (lab.shot_dir / f"{name}.png").write_bytes(png)
    return png


def freeze_animations(lab: Lab, at_ms: float) -> None:
    """Hold the picture ``at_ms`` into the running animations (a phase mid-flow): their
    values are written to inline styles and the animations dropped, since a full-page
    capture does not paint paused animations. :func:`thaw` puts the page's styles back."""
    lab.page.wait_for_function("() => document.getAnimations().length > 0")
    lab.page.evaluate("""t => {
        const anims = document.getAnimations();
        window.__thaw = anims.map(a => [a.effect.target, a.effect.target.style.cssText]);
        anims.forEach(a => { a.pause(); a.currentTime = t; a.commitStyles(); a.cancel(); });
    }""", at_ms)


def thaw(lab: Lab) -> None:
    """The page's own styles again after :func:`freeze_animations`: the phase's end."""
    lab.page.evaluate("""() => {
        for (const [el, css] of window.__thaw.reverse()) el.style.cssText = css;
        delete window.__thaw;
    }""")


def test_the_desk_and_the_projector_in_both_languages(make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    page = lab.page
    for _ in range(2):
        lab.step()
    settle(lab)
    desk = {"en": look(lab)}
    assert_screen(lab, desk["en"], full_page(lab, "desktop-en"), "en")

    lab.step()  # backward, photographed mid-flow for the docs
    freeze_animations(lab, 450)  # pulses half-way through the second of three layers
    assert_screen(lab, look(lab), full_page(lab, "mid-backward"), "en")
    thaw(lab)

    set_language(lab, "ja")
    desk["ja"] = look(lab)
    assert_screen(lab, desk["ja"], full_page(lab, "desktop-ja"), "ja")

    # the teacher plugs in a projector and presses "p"
    page.set_viewport_size(PROJECTOR)
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.classList.contains('present')")
    settle(lab)
    for lang in ("en", "ja"):
        set_language(lab, lang)
        seen = look(lab)
        assert_screen(lab, seen, full_page(lab, "presentation" if lang == "ja" else None), lang)
        # type clearly larger than at the desk, in the same language: read from the back
        for part, size in seen["type"].items():
            assert size >= 1.3 * desk[lang]["type"][part], (lang, part, size, desk[lang]["type"])

    # a bigger projector, the class looking at one weight's chain rule beside the network
    page.set_viewport_size(BIG_PROJECTOR)
    set_language(lab, "en")
    lab.play_until("30", 60)  # the chart has a curve to show
    mark = lab.mark()
    page.click(".net-svg [data-id='L2.W.1.0']", force=True)
    lab.wait_for_message("inspect", after=mark, id="L2.W")
    page.wait_for_selector(".bpl-inspector:not([hidden]) .bpl-insp-head")
    settle(lab)
    seen = look(lab)
    assert_screen(lab, seen, full_page(lab, "presentation-1080"), "en")
    assert lab.errors == []


def test_the_phone_in_both_languages(make_lab: Any) -> None:
    phone = make_lab(**PHONE).open()
    phone.step()
    settle(phone)
    for lang in ("en", "ja"):
        if lang == "ja":
            set_language(phone, "ja")
        seen = look(phone)
        shot = full_page(phone, {"en": "phone", "ja": "phone-ja"}[lang], whole=False)
        assert_screen(phone, seen, shot, lang)
        # big enough to tap: the run buttons ~40 px, everything else on the first screen 30
        small = [(cls, text, round(w), round(h)) for cls, text, w, h in seen["taps"]
                 if min(w, h) < (RUN_TAP if any(b[1:] in cls for b in RUN_BUTTONS) else ANY_TAP)]
        assert small == [], f"{lang}: too small to tap: {small}"
        assert {cls.split()[-1] for cls, *_ in seen["taps"]} >= {b[1:] for b in RUN_BUTTONS}

    # a tap on a weight: its inspector as a sheet above the run buttons (what the phone shows,
    # not the whole page)
    mark = phone.mark()
    phone.page.tap(".net-svg [data-id='L2.W.1.0']", force=True)
    phone.wait_for_message("inspect", after=mark, id="L2.W")
    phone.page.wait_for_selector(".bpl-inspector:not([hidden]) .bpl-insp-head")
    settle(phone)
    phone.page.screenshot(path=str(phone.shot_dir / "phone-inspector.png"))
    assert phone.errors == []
