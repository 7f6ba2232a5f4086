"""The loss chart's "best test" label ("テスト最小") in real Chromium: on a desk, a
projector and a phone, in both languages, it stands clear of every curve, of the axis
labels and of the cursor, so both it and the curves it names can be read.

The chart is a canvas: each chart keeps the boxes of what it wrote (`drawn.markers[k].box`,
`drawn.labels`) and its plot area (`drawn.plot`), in CSS px of the canvas; the test
draws the curves' segments from `drawn` itself and looks at the canvas's pixels inside the
label's box for a curve's colour. The screenshot is
docs/screenshots/loss-chart-label-projector-ja.png (run with BPL_SCREENSHOTS=1 to refresh it).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import SCREENS, Lab

LOCALE = {"en": "en-US", "ja": "ja-JP"}
LABEL = {"en": "best test", "ja": "テスト最小"}

#: what overlaps the loss chart's marker labels, in CSS px of its canvas: for each label,
#: the series whose drawn segments (as the chart maps them, clipped to its plot) cross
#: its box, the axis labels and other marker labels whose boxes it meets, whether the
#: cursor crosses it, and whether it lies wholly in the canvas
CLASHES = """e => {
  const d = e.drawn, p = d.plot;
  const tf = v => d.log ? Math.log10(v) : v;
  const X = x => p.left + (d.x1 > d.x0 ? (x - d.x0) / (d.x1 - d.x0) * (p.right - p.left)
                                       : (p.right - p.left) / 2);
  const Y = v => p.top + (1 - (tf(v) - d.lo) / (d.hi - d.lo)) * (p.bottom - p.top);
  const meet = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  // a segment meets a box: Liang-Barsky clipping of the segment to the box
  const crosses = (x0, y0, x1, y1, b) => {
    let t0 = 0, t1 = 1;
    const dx = x1 - x0, dy = y1 - y0;
    const sides = [[-dx, x0 - b.x], [dx, b.x + b.w - x0], [-dy, y0 - b.y], [dy, b.y + b.h - y0]];
    for (const [q, r] of sides) {
      if (q === 0) { if (r < 0) return false; continue; }
      const t = r / q;
      if (q < 0) { if (t > t1) return false; if (t > t0) t0 = t; }
      else { if (t < t0) return false; if (t < t1) t1 = t; }
    }
    return true;
  };
  // the curves are clipped to the plot area grown by 2 px; a line is at most 3.5 px wide
  const clip = {x: p.left - 2, y: p.top - 2, w: p.right - p.left + 4, h: p.bottom - p.top + 4};
  const ok = v => Number.isFinite(v) && (!d.log || v > 0);
  return d.markers.map((m, k) => {
    const b = {x: m.box.x - 2, y: m.box.y - 2, w: m.box.w + 4, h: m.box.h + 4};
    const inPlot = {x: Math.max(b.x, clip.x), y: Math.max(b.y, clip.y)};
    inPlot.w = Math.min(b.x + b.w, clip.x + clip.w) - inPlot.x;
    inPlot.h = Math.min(b.y + b.h, clip.y + clip.h) - inPlot.y;
    const curves = [];
    if (inPlot.w > 0 && inPlot.h > 0) {
      for (const s of d.series) {
        let prev = null;
        for (let i = 0; i < s.xs.length; i++) {
          if (!ok(s.values[i])) { prev = null; continue; }
          const [x, y] = [X(s.xs[i]), Y(s.values[i])];
          // a staircase goes up or down at the previous point, then along to this one
          const hit = !prev ? crosses(x - 1, y, x + 1, y, inPlot)
            : s.step ? crosses(prev[0], prev[1], prev[0], y, inPlot)
                       || crosses(prev[0], y, x, y, inPlot)
            : crosses(prev[0], prev[1], x, y, inPlot);
          if (hit) { curves.push(s.key); break; }
          prev = [x, y];
        }
      }
    }
    const c = d.cursor;
    return {
      label: m.label, box: m.box, curves,
      labels: d.labels.filter(l => meet(l, m.box)).map(l => l.text),
      markers: d.markers.filter((o, j) => j !== k && meet(o.box, m.box)).map(o => o.label),
      cursor: Boolean(c) && meet({x: c.px - 6, y: p.top, w: 12, h: p.bottom - p.top}, m.box),
      inside: m.box.x >= 0 && m.box.y >= 0 && m.box.x + m.box.w <= d.width
        && m.box.y + m.box.h <= d.height,
    };
  });
}"""

#: pixels inside a box of the canvas (CSS px) the colour of a curve that is not the
#: label's own: the train line (#0072b2) or the batch line (#9a9a9a)
CURVE_PIXELS = """(e, b) => {
  const c = e.querySelector('canvas'), r = window.devicePixelRatio || 1;
  const d = c.getContext('2d').getImageData(Math.floor(b.x * r), Math.floor(b.y * r),
                                            Math.ceil(b.w * r), Math.ceil(b.h * r)).data;
  const near = (i, [R, G, B]) =>
    Math.abs(d[i] - R) + Math.abs(d[i + 1] - G) + Math.abs(d[i + 2] - B) < 60;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 200 && (near(i, [0, 114, 178]) || near(i, [154, 154, 154]))) n++;
  }
  return n;
}"""


def send(lab: Lab, msg: dict[str, Any]) -> None:
    """Send ``msg`` through the page's own socket (as the page's controls would)."""
    lab.page.evaluate("m => window.__sockets.at(-1).send(JSON.stringify(m))", msg)


def switch_language(lab: Lab, lang: str) -> None:
    lab.page.click(f".lang-btn[data-lang='{lang}']")
    lab.page.wait_for_function("l => document.documentElement.lang === l", arg=lang)


def assert_label_clear(lab: Lab, where: str, lang: str) -> None:
    lab.settled()  # the charts redraw on the next animation frame
    chart = "[data-chart='loss']"
    assert lab.page.is_visible(f"{chart} canvas"), where
    seen = lab.page.eval_on_selector(chart, CLASHES)
    assert [m["label"] for m in seen] == [LABEL[lang]], where
    m = seen[0]
    assert m["inside"], f"{where}: the label leaves the canvas: {m['box']}"
    assert m["curves"] == [], f"{where}: the label lies on the curves {m['curves']}: {m['box']}"
    assert m["labels"] == [] and m["markers"] == [], f"{where}: the label meets {m}"
    assert not m["cursor"], f"{where}: the cursor runs through the label: {m['box']}"
    stray = lab.page.eval_on_selector(chart, CURVE_PIXELS, m["box"])
    assert stray == 0, f"{where}: {stray} pixels of a curve inside the label's box"


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_best_test_label_stands_clear_of_the_curves(make_lab: Any, screen: str) -> None:
    """A run played on, then rewound to the update that led to the best test point (the
    cursor through the marker's column): the label reads in both languages, clear of
    everything else drawn."""
    lab: Lab = make_lab(**SCREENS[screen], locale="en-US").open()
    page = lab.page
    if screen == "projector":
        page.keyboard.press("p")  # the teacher's key for presentation mode
        page.wait_for_function("() => document.documentElement.classList.contains('present')")
    send(lab, {"type": "play", "speed": 1000})
    page.wait_for_function(
        "() => Number(document.querySelector('#stat-iteration').textContent) >= 300")
    mark = lab.mark()
    send(lab, {"type": "pause"})
    lab.wait_for_message("state", after=mark, playing=False)
    lab.settled()
    best = page.eval_on_selector("[data-chart='loss']", "e => e.drawn.markers[0].x")
    mark = lab.mark()
    send(lab, {"type": "seek", "iteration": best - 1, "phase": "backward"})  # update next
    lab.wait_for_message("timeline", after=mark, iteration=best - 1)
    lab.settled()
    assert page.eval_on_selector("[data-chart='loss']", "e => e.drawn.cursor.x") == best - 0.25
    for lang in ("en", "ja"):
        if lang == "ja":
            switch_language(lab, "ja")
        assert_label_clear(lab, f"{screen} {lang}", lang)
    if screen == "projector":
        lab.shot_dir.mkdir(parents=True, exist_ok=True)
        page.locator(".bpl-health-panel").screenshot(
            path=str(lab.shot_dir / "loss-chart-label-projector-ja.png"))
    assert [e for e in lab.errors if "willReadFrequently" not in e] == []
