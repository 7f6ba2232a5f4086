"""The page in real Chromium against a real server: what a learner sees and does.

Every number checked here is compared with the message the engine sent over
the WebSocket (recorded by the ``Lab`` fixture), never with a value computed
in the test.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.browser.conftest import CAPTURE_SOCKETS, Lab, parse_number

PHASES = ("forward", "loss", "backward", "update")


def rgb(css: str) -> tuple[int, int, int]:
    """(r, g, b) of a CSS ``rgb(...)`` string."""
    m = re.match(r"rgba?\((\d+),\s*(\d+),\s*(\d+)", css)
    assert m, f"not an rgb colour: {css!r}"
    return int(m[1]), int(m[2]), int(m[3])


def hue_sign(css: str) -> int:
    """+1 for the palette's blue side (positive), −1 for its vermillion side, 0 neutral."""
    r, _, b = rgb(css)
    return (b > r) - (r > b)


def edge_styles(lab: Lab, layer: int) -> dict[tuple[int, int], tuple[float, str]]:
    """(i, j) → (stroke width, stroke colour) of every edge of ``layer`` as drawn."""
    rows = lab.page.eval_on_selector_all(
        f".net-svg line.edge[data-id^='L{layer}.W.']",
        "els => els.map(e => [e.dataset.id, e.style.strokeWidth, e.style.stroke])",
    )
    out = {}
    for id_, width, colour in rows:
        _, _, i, j = id_.split(".")
        out[(int(i), int(j))] = (float(width), colour)
    return out


def assert_edges_show(lab: Lab, mats: dict[int, list[list[float]]]) -> None:
    """Edge width ∝ |value| (global scale) and hue = sign, for every layer in ``mats``."""
    scale = max(abs(v) for M in mats.values() for row in M for v in row)
    for l, M in mats.items():
        drawn = edge_styles(lab, l)
        assert len(drawn) == len(M) * len(M[0])
        for (i, j), (width, colour) in drawn.items():
            v = M[i][j] / scale
            assert abs(width - (0.6 + 5.4 * abs(v))) < 0.011, (l, i, j, width, v)
            if abs(v) > 0.02:
                assert hue_sign(colour) == (1 if v > 0 else -1), (l, i, j, colour, v)


COUNT_ANIMATIONS = """
    window.__animations = 0;
    const animate = Element.prototype.animate;
    Element.prototype.animate = function (...args) {
        window.__animations += 1;
        return animate.apply(this, args);
    };
"""


#: a wait_for_function predicate: the numbers panel shows iteration ``n``
SHOWS_ITERATION = "n => document.querySelector('#stat-iteration').textContent === String(n)"


def wait_phase(lab: Lab, phase: str) -> None:
    lab.page.wait_for_selector(f"[data-slot='banner'][data-phase='{phase}']", timeout=15_000)


def test_page_loads_without_console_errors(lab: Lab) -> None:
    run = lab.last("run")
    sizes = run["net"]["sizes"]
    assert lab.page.locator(".net-svg circle.node").count() == sum(sizes)
    n_edges = sum(a * b for a, b in itertools.pairwise(sizes))
    assert lab.page.locator(".net-svg line.edge").count() == n_edges
    # ids built from model ids
    assert lab.page.locator(".net-svg [data-id='L1.W.0.2']").count() == 1
    assert lab.page.locator(".net-svg [data-id='L1.a.2']").count() == 1
    lab.settled()  # everything received so far handled and drawn
    assert lab.errors == []


def test_stepping_shows_the_four_phases_in_turn(make_lab: Any) -> None:
    lab = make_lab()
    lab.page.add_init_script(COUNT_ANIMATIONS)
    lab.open()
    page = lab.page
    run = lab.last("run")
    depth = len(run["net"]["sizes"]) - 1
    assert page.get_attribute("[data-slot='banner']", "data-phase") == "ready"
    assert page.eval_on_selector("[data-id='L1.a.0']", "e => e.style.fill") == ""
    assert_edges_show(lab, {l: run["params"][f"L{l}.W"] for l in range(1, depth + 1)})

    # forward: banner names it, hidden neurons fill with their batch-mean activation's sign
    lab.step()
    wait_phase(lab, "forward")
    assert "Forward" in lab.text(".banner-title")
    fwd = lab.last("frame", phase="forward")
    a1 = fwd["values"]["L1.a"]
    for j in range(len(a1[0])):
        mean = sum(r[j] for r in a1) / len(a1)
        fill = page.eval_on_selector(f"[data-id='L1.a.{j}']", "e => e.style.fill")
        assert fill, "forward must fill the neuron"
        if abs(mean) > 0.05:
            assert hue_sign(fill) == (1 if mean > 0 else -1)
    assert page.evaluate("window.__animations") > 0, "forward should animate"

    # loss: the loss appears, equal to the engine's
    lab.step()
    wait_phase(lab, "loss")
    loss = lab.last("frame", phase="loss")["values"]["loss.total"]
    shown = lab.text(".loss-label").split("=")[1]
    assert abs(parse_number(shown) - loss) < 1e-4
    assert abs(lab.number("#stat-batch-loss") - loss) < 1e-4
    # screen readers hear the phase and the loss through the live region
    assert page.get_attribute("[data-slot='announcer']", "aria-live") == "polite"
    said = lab.text("[data-slot='announcer']")
    assert said.startswith("Loss, iteration 1")  # the first iteration is iteration 1
    assert abs(parse_number(said.split("loss ")[1]) - loss) < 1e-4

    # backward: edges switch to ∂L/∂W — width ∝ |dW|, hue = sign of dW
    lab.step()
    wait_phase(lab, "backward")
    assert page.get_attribute(".net-svg", "data-mode") == "dW"
    bwd = lab.last("frame", phase="backward")["values"]
    assert_edges_show(lab, {l: bwd[f"L{l}.dW"] for l in range(1, depth + 1)})

    # update: edges settle to the new weights
    lab.step()
    wait_phase(lab, "update")
    assert page.get_attribute(".net-svg", "data-mode") == "W"
    upd = lab.last("frame", phase="update")["values"]
    assert upd["L1.W"] != upd["L1.W.prev"]
    assert_edges_show(lab, {l: upd[f"L{l}.W"] for l in range(1, depth + 1)})
    page.wait_for_function(SHOWS_ITERATION, arg=1)
    assert lab.errors == []


def test_playing_xor_drives_the_displayed_loss_down(lab: Lab) -> None:
    page = lab.page
    mark = lab.mark()
    page.select_option("#ctl-lr", "0.3")
    lab.wait_for_message("run", after=mark)
    page.wait_for_function("() => document.querySelector('#ctl-lr').value === '0.3'")
    lab.step("iteration")
    page.wait_for_function("() => document.querySelector('#stat-train-loss').textContent !== '—'")
    first = lab.number("#stat-train-loss")
    lab.play_until("100", 250, timeout_ms=60_000)
    lab.settled()
    last = lab.number("#stat-train-loss")
    assert last < 0.5 * first, (first, last)
    assert last == lab.messages("metrics")[-1]["points"][-1]["train_loss"] or \
        abs(last - lab.messages("metrics")[-1]["points"][-1]["train_loss"]) < 1e-4
    assert lab.errors == []


JA_SCOPES = (
    ".ctl-run button", ".ctl-run label", ".ctl-run h2", ".ctl-net label", ".ctl-net h2",
    ".ctl-net .hint", ".ctl-adv summary", ".app-bar h1", ".app-bar .tagline", ".conn",
    "[data-slot='banner'] .phase-steps",
    ".banner-title", ".banner-say", ".stats", "#stats-h", ".bpl-health-panel", ".bpl-maps h2",
    ".layer-caption", ".net-legend",
)


def english_words(text: str) -> list[str]:
    """Runs of 3+ Latin letters (math symbols and short ids like x1 are allowed)."""
    return re.findall(r"[A-Za-z]{3,}", text)


def visible_ui_text(lab: Lab) -> str:
    return "\n".join(
        t
        for sel in JA_SCOPES
        for t in lab.page.eval_on_selector_all(sel, "els => els.map(e => e.textContent)")
    )


def test_language_switch_changes_every_string(lab: Lab) -> None:
    page = lab.page
    lab.step()
    assert page.get_attribute("html", "lang") == "en"
    assert lab.text(".btn-step-phase") == "Step phase"
    page.click(".lang-btn[data-lang='ja']")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")
    assert lab.text(".btn-step-phase") == "1フェーズ進む"
    assert lab.text(".btn-toggle-play") == "再生"
    text = visible_ui_text(lab)
    # function names (tanh, as the activation curve titles its plot) are written the
    # same way in Japanese texts
    assert [w for w in english_words(text) if w != "tanh"] == [], english_words(text)
    # labels of form controls, accessible names and tooltips too
    attrs = page.evaluate("""() => [
        ...document.querySelectorAll('[aria-label],[title],[placeholder]')]
        .filter(e => !e.closest('math'))
        .map(e => ['aria-label', 'title', 'placeholder'].map(a => e.getAttribute(a))
        .filter(Boolean).join(' '))""")
    labels = page.eval_on_selector_all(
        "label, legend, summary, h1, h2, th, td", "els => els.map(e => e.textContent)")
    leftovers = [w for s in [*attrs, *labels] for w in english_words(s)]
    # names of people, functions, optimizers and libraries, math subscripts (T_max, η_min)
    # and PyTorch's zero_grad(), written the same way in Japanese texts
    allowed = {"Nesterov", "leaky", "Leaky", "ReLU", "ELU", "MSE", "sin", "RMSprop", "Adam",
               "Adagrad", "max", "min", "tanh", "zero", "grad", "PyTorch"}
    assert [w for w in leftovers if w not in allowed] == []
    # the choice survives a reload; switching back restores English
    page.reload()
    lab.wait_ready()
    assert lab.text(".btn-step-phase") == "1フェーズ進む"
    page.click(".lang-btn[data-lang='en']")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert lab.text(".btn-step-phase") == "Step phase"
    assert lab.errors == []


def test_default_language_follows_the_browser(make_lab: Any) -> None:
    lab = make_lab(locale="ja-JP").open()
    assert lab.page.get_attribute("html", "lang") == "ja"
    assert lab.text(".btn-reset") == "リセット"


def tooltip_value(lab: Lab, key: str) -> float:
    row = lab.text(f".net-tip [data-value='{key}']")
    return parse_number(row.split("=")[1].split("(")[0])


def hover_edge(lab: Lab, id_: str) -> None:
    """Move the mouse onto a point of the edge that no other edge covers."""
    point = lab.page.evaluate("""id => {
        const e = document.querySelector(`.net-svg [data-id='${id}']`);
        const m = e.getScreenCTM();
        for (const f of [0.3, 0.2, 0.4, 0.6, 0.7, 0.8, 0.5]) {
            const x = +e.getAttribute('x1') + f * (e.getAttribute('x2') - e.getAttribute('x1'));
            const y = +e.getAttribute('y1') + f * (e.getAttribute('y2') - e.getAttribute('y1'));
            const px = m.a * x + m.c * y + m.e, py = m.b * x + m.d * y + m.f;
            if (document.elementFromPoint(px, py) === e) return [px, py];
        }
        return null;
    }""", id_)
    assert point, f"no uncovered point on edge {id_}"
    lab.page.mouse.move(point[0], point[1])
    lab.page.wait_for_selector(".net-tip:not([hidden])")


def test_hovering_an_edge_shows_the_engines_weight(lab: Lab) -> None:
    page = lab.page
    run = lab.last("run")
    edge = "L2.W.1.3"
    hover_edge(lab, edge)
    page.wait_for_selector(".net-tip:not([hidden])")
    assert abs(tooltip_value(lab, "w") - run["params"]["L2.W"][1][3]) < 6e-5
    # after a whole iteration the tooltip follows the update frame, gradient included
    page.mouse.move(0, 0)
    lab.step("iteration")
    page.wait_for_function(SHOWS_ITERATION, arg=1)
    upd = lab.last("frame", phase="update")["values"]
    bwd = lab.last("frame", phase="backward")["values"]
    hover_edge(lab, edge)
    assert abs(tooltip_value(lab, "w") - upd["L2.W"][1][3]) < 6e-5
    assert abs(tooltip_value(lab, "dw") - bwd["L2.dW"][1][3]) < 6e-5
    # a neuron shows its batch-mean activation; keyboard focus shows the same tooltip
    page.mouse.move(0, 0)
    page.focus(".net-svg [data-id='L1.a.0']")
    fwd = lab.last("frame", phase="forward")["values"]["L1.a"]
    mean = sum(r[0] for r in fwd) / len(fwd)
    assert abs(tooltip_value(lab, "a") - mean) < 6e-5
    assert "a = " in (page.get_attribute(".net-svg [data-id='L1.a.0']", "aria-label") or "")
    assert lab.errors == []


def no_horizontal_scroll(lab: Lab) -> bool:
    return bool(lab.page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def test_phone_layout_has_no_horizontal_scroll(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).open()
    assert no_horizontal_scroll(lab)
    lab.step()
    # a phone is tapped throughout: a mouse click would leave a pointer hovering over
    # whatever the layout moves under it next (a tooltip a finger never asked for)
    lab.page.tap(".lang-btn[data-lang='ja']")
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    lab.page.tap(".ctl-adv summary")
    assert no_horizontal_scroll(lab)
    lab.page.tap(".present-btn")
    assert no_horizontal_scroll(lab)
    # the network is on screen first, at a usable size
    box = lab.page.locator(".net-svg").bounding_box()
    assert box is not None and box["width"] >= 300
    # a tap shows a neuron's numbers until the next tap elsewhere (once the network has
    # been laid out again for the phone: a re-layout replaces the tapped circle)
    lab.page.tap(".present-btn")
    lab.page.wait_for_function("() => !document.documentElement.classList.contains('present')")
    lab.page.evaluate("() => new Promise((r) => requestAnimationFrame(() => "
                      "requestAnimationFrame(() => setTimeout(r, 50))))")
    lab.page.tap(".net-svg [data-id='L2.a.1']")
    lab.page.wait_for_selector(".net-tip", state="visible")
    assert "a = " in lab.text(".net-tip")
    lab.page.tap(".banner-title")
    lab.page.wait_for_selector(".net-tip", state="hidden")
    assert lab.errors == []


def test_reduced_motion_is_respected(make_lab: Any) -> None:
    lab = make_lab(reduced_motion="reduce")
    lab.page.add_init_script(COUNT_ANIMATIONS)
    lab.open()
    # a whole iteration at once still leaves the full picture: fills from forward, new weights
    lab.step("iteration")
    wait_phase(lab, "update")
    lab.page.wait_for_function(SHOWS_ITERATION, arg=1)
    assert lab.page.eval_on_selector("[data-id='L1.a.0']", "e => e.style.fill") != ""
    upd = lab.last("frame", phase="update")["values"]
    depth = len(lab.last("run")["net"]["sizes"]) - 1
    assert_edges_show(lab, {l: upd[f"L{l}.W"] for l in range(1, depth + 1)})
    for phase in PHASES:
        lab.step()
        wait_phase(lab, phase)
        assert lab.page.evaluate("window.__animations") == 0
        assert lab.page.evaluate("document.getAnimations().length") == 0
    # the final picture is still drawn
    assert lab.page.get_attribute(".net-svg", "data-mode") == "W"
    assert lab.page.eval_on_selector("[data-id='L1.a.0']", "e => e.style.fill") != ""


def test_help_on_a_projector_opens_at_its_title(lab: Lab) -> None:
    """Presentation mode on a 1280×720 projector: the help opens showing its title and
    first shortcuts (it opened scrolled to its Close button)."""
    page = lab.page
    page.set_viewport_size({"width": 1280, "height": 720})
    page.click(".present-btn")
    page.click(".help-btn")
    page.wait_for_selector("dialog.help[open]")
    assert page.eval_on_selector("dialog.help", "d => d.scrollTop") == 0
    top = page.eval_on_selector("#help-title", "e => e.getBoundingClientRect().top")
    assert 0 <= top < 720
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog.help", state="hidden")


def test_keyboard_shortcuts(lab: Lab) -> None:
    page = lab.page
    page.locator("body").focus()
    page.keyboard.press("ArrowRight")
    wait_phase(lab, "forward")
    page.keyboard.press("ArrowLeft")  # back is a no-op until playback lands
    page.keyboard.press(".")
    page.wait_for_function(SHOWS_ITERATION, arg=1)
    wait_phase(lab, "update")
    page.keyboard.press("Space")
    page.wait_for_selector(".btn-toggle-play[aria-pressed='true']")
    page.keyboard.press("Space")
    page.wait_for_selector(".btn-toggle-play[aria-pressed='false']")
    page.keyboard.press("?")
    page.wait_for_selector("dialog.help[open]")
    assert "Space" in lab.text("dialog.help")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog.help", state="hidden")
    base_font = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    page.keyboard.press("p")
    assert page.evaluate("document.documentElement.classList.contains('present')")
    big_font = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert big_font >= 1.3 * base_font  # large type for a projector
    page.keyboard.press("p")
    assert not page.evaluate("document.documentElement.classList.contains('present')")
    # Tab reaches the controls and the focus is visible
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    assert lab.errors == []


def test_reload_resumes_the_same_session(lab: Lab) -> None:
    lab.step()
    first = lab.last("run")["session"]
    lab.received.clear()
    lab.page.reload()
    lab.wait_ready()
    again = lab.last("run")
    assert again["session"] == first
    assert again["state"]["next_phase"] == "loss"


def test_non_finite_strings_decode_to_numbers(lab: Lab) -> None:
    got = lab.page.evaluate("""async () => {
        const { decodeMessage } = await import('/static/js/socket.js');
        const m = decodeMessage('{"a": "NaN", "b": ["Infinity", "-Infinity", 1.5], "c": "text"}');
        return [Number.isNaN(m.a), m.b[0] === Infinity, m.b[1] === -Infinity, m.b[2], m.c];
    }""")
    assert got == [True, True, True, 1.5, "text"]


def test_dropped_connection_reconnects_and_resumes(make_lab: Any) -> None:
    lab = make_lab()
    routes: list[Any] = []
    sent: list[str] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def forward(m: str) -> None:
            sent.append(m)
            server.send(m)

        ws.on_message(forward)
        routes.append(ws)

    lab.page.route_web_socket("**/ws", route)
    lab.open()
    lab.step()
    first = lab.last("run")["session"]
    assert '"hello"' in sent[0] and first not in sent[0]  # a fresh tab has no session yet
    sent.clear()
    routes[-1].close()  # the network drops the socket
    lab.page.wait_for_selector(".conn[data-state='closed']")
    lab.page.wait_for_selector(".conn[data-state='open']", timeout=20_000)
    lab.wait_until(lambda: len(lab.messages("run")) >= 2, what="the run after reconnecting")
    hello = next(m for m in sent if '"hello"' in m)
    assert f'"session":"{first}"' in hello
    again = lab.messages("run")[-1]
    assert again["session"] == first
    assert again["state"]["next_phase"] == "loss"
    lab.step()
    assert lab.last("frame")["phase"] == "loss"


def test_other_shapes_and_datasets_draw_and_step(lab: Lab) -> None:
    """Multi-class output, regression, no hidden layer and a deep wide net all work."""
    page = lab.page
    shapes = (("blobs3", 1, 5), ("sine", 0, 1), ("spiral", 6, 16))
    def settled(done: Any, what: str) -> None:
        # the run answering this change (an earlier change's run may still be on its way
        # on a busy machine: runs come in the order of the changes, so wait for this one)
        lab.wait_until(lambda: bool(lab.messages("run")) and done(lab.last("run")), what=what)

    for dataset, layers, neurons in shapes:
        page.select_option("#ctl-dataset", dataset)
        settled(lambda r, d=dataset: r["config"]["dataset"] == d, f"the {dataset} run")
        for sel, value in (("#ctl-layers", layers), ("#ctl-neurons", neurons)):
            if page.is_disabled(sel):
                continue
            page.fill(sel, str(value))
            page.dispatch_event(sel, "change")
            if sel == "#ctl-layers":
                settled(lambda r, n=value: len(r["config"]["hidden"]) == n, f"{value} layers")
            else:
                settled(lambda r, n=value: set(r["config"]["hidden"]) <= {n}, f"{value} neurons")
        page.locator("body").focus()
        run = lab.last("run")
        sizes = run["net"]["sizes"]
        assert run["config"]["dataset"] == dataset
        assert sizes[1:-1] == [neurons] * layers, sizes
        page.wait_for_function(
            f"() => document.querySelectorAll('.net-svg circle.node').length === {sum(sizes)}")
        lab.step("iteration")
        page.wait_for_function(SHOWS_ITERATION, arg=1)
    assert lab.errors == []


def test_more_layers_than_the_page_builds_shows_what_it_built(lab: Lab) -> None:
    """8 sigmoid layers (the README's experiment) builds 8; asking for 12 builds the
    page's most, 8, and the field says 8 (it used to keep 12 while building fewer)."""
    page = lab.page
    for asked, built in ((8, 8), (12, 8)):
        page.fill("#ctl-layers", str(asked))
        mark = lab.mark()
        page.dispatch_event("#ctl-layers", "change")
        run = lab.wait_for_message("run", after=mark)
        assert len(run["net"]["sizes"]) - 2 == built
        assert page.input_value("#ctl-layers") == str(built)
    assert lab.errors == []


def test_a_tab_that_loses_its_session_to_another_starts_its_own(make_lab: Any) -> None:
    """A duplicated tab resumes the same session id; the first tab is closed with 4001 and
    must take a new session instead of taking the old one back (no tug of war)."""
    first = make_lab().open()
    sid = first.last("run")["session"]
    second = make_lab()
    second.page.add_init_script(f"sessionStorage.setItem('bpl.session', '{sid}')")
    second.open()
    assert second.last("run")["session"] == sid
    first.wait_until(lambda: len(first.messages("run")) >= 2, what="the first tab's new run")
    runs = [(m["session"], m["state"]["iteration"]) for m in first.messages("run")]
    assert runs[-1][0] != sid, (sid, runs, first.messages("error"))
    # and nobody steals anything back: the second tab still talks on the socket it
    # opened (a 4001 would have closed it, its page reconnecting on a new one)
    first.step()
    second.step()
    second_runs = [m["session"] for m in second.messages("run")]
    assert second_runs == [sid], (sid, second_runs)
    assert second.page.evaluate("window.__sockets.length") == 1
    assert first.page.evaluate("sessionStorage.getItem('bpl.session')") != sid


def test_network_has_two_tab_stops_and_arrow_keys_move_inside(lab: Lab) -> None:
    """Keyboard users reach the diagram in two Tab stops (neurons, weights), not hundreds,
    and move inside it with the arrow keys without stepping the run."""
    page = lab.page
    stops = page.eval_on_selector_all(".net-svg [data-id][tabindex='0']",
                                      "els => els.map(e => e.dataset.id)")
    assert stops == ["L0.a.0", "L1.W.0.0"]
    page.focus("[data-id='L0.a.0']")
    active = "document.activeElement.dataset.id"
    page.keyboard.press("ArrowDown")
    assert page.evaluate(active) == "L0.a.1"
    page.keyboard.press("ArrowRight")
    assert page.evaluate(active) == "L1.a.1"
    assert page.get_attribute("[data-slot='banner']", "data-phase") == "ready"  # no step
    assert lab.text(".net-tip strong") == "Layer 1, neuron 2"  # the focused one's numbers
    page.keyboard.press("Tab")
    assert page.evaluate(active) == "L1.W.0.0"
    page.keyboard.press("ArrowDown")
    assert page.evaluate(active) == "L1.W.0.1"
    page.keyboard.press("ArrowRight")
    assert page.evaluate(active) == "L2.W.0.1"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(active) == "L1.a.1"  # the neuron stop remembers where it was
    assert lab.errors == []


def test_pointing_near_a_thin_edge_is_enough(lab: Lab) -> None:
    """Edges of small weights are under a pixel wide; pointing a few pixels off still works."""
    page = lab.page
    run = lab.last("run")
    W = run["params"]["L1.W"]
    i, j = min(((i, j) for i in range(len(W)) for j in range(len(W[0]))),
               key=lambda ij: abs(W[ij[0]][ij[1]]))
    point = page.evaluate("""id => {
        const e = document.querySelector(`.net-svg line.edge[data-id='${id}']`);
        const m = e.getScreenCTM();
        const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map(a => +e.getAttribute(a));
        const len = Math.hypot(x2 - x1, y2 - y1);
        for (const f of [0.15, 0.85, 0.3, 0.7]) {
            // 3 px to the side of the line, at a fraction f along it
            const x = x1 + f * (x2 - x1) - 3 / m.a * (y2 - y1) / len;
            const y = y1 + f * (y2 - y1) + 3 / m.d * (x2 - x1) / len;
            const px = m.a * x + m.e, py = m.d * y + m.f;
            const hit = document.elementFromPoint(px, py);
            if (hit && hit.dataset.hit === id) return [px, py];
        }
        return null;
    }""", f"L1.W.{i}.{j}")
    assert point, "no free spot beside the edge"
    page.mouse.move(point[0], point[1])
    page.wait_for_selector(".net-tip:not([hidden])")
    assert lab.text(".net-tip strong") == f"Weight in layer 1: {i + 1} → {j + 1}"
    assert abs(tooltip_value(lab, "w") - W[i][j]) < 6e-5


def test_reconnect_backoff_and_language_choice(lab: Lab) -> None:
    """Reconnect delays double up to a cap (with jitter); the language comes from a saved
    choice, else the browser's list, else English."""
    got = lab.page.evaluate("""async () => {
        const { backoffDelay } = await import('/static/js/socket.js');
        const { initialLang } = await import('/static/js/i18n.js');
        const mid = () => 0.5;
        return {
            delays: [0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 500, 10000, mid)),
            low: backoffDelay(2, 500, 10000, () => 0), high: backoffDelay(2, 500, 10000, () => 1),
            langs: [initialLang('ja', ['en-US']), initialLang(null, ['fr-FR', 'ja-JP']),
                    initialLang('xx', ['de']), initialLang(null, [])],
        };
    }""")
    assert got["delays"] == [500, 1000, 2000, 4000, 8000, 10000, 10000]
    assert got["low"] == 1600 and got["high"] == 2400
    assert got["langs"] == ["ja", "ja", "en", "en"]


def test_advanced_settings_reach_the_run_and_cover_every_setting(lab: Lab) -> None:
    lab.page.click(".ctl-adv summary")
    run = lab.last("run")
    # every setting the run has is a control on the page (main panel or advanced section)
    main = {"dataset": "#ctl-dataset", "hidden": "#ctl-layers", "activation": "#ctl-activation",
            "lr": "#ctl-lr", "features": ".features input", "points": ".pts-add",
            "table": ".csv-input"}  # the own dataset's table: a CSV file opened
    for key, value in run["config"].items():
        subkeys = [f"{key}-{k}" for k in value] if isinstance(value, dict) else [key]
        for sub in subkeys:
            sel = main.get(sub, f"#adv-{sub}")
            assert lab.page.locator(sel).count() >= 1, f"no control for {sub}"
    choices = [("#adv-optimizer-name", "adam", lambda c: c["optimizer"]["name"] == "adam"),
               ("#adv-schedule-name", "cosine", lambda c: c["schedule"]["name"] == "cosine"),
               ("#adv-norm", "batch", lambda c: c["norm"] == "batch"),
               ("#adv-act-2", "relu", lambda c: c["layer_activations"] == ["tanh", "relu"])]
    for sel, value, ok in choices:
        start = lab.mark()
        lab.page.select_option(sel, value)
        cfg = lab.wait_for_message("run", after=start)["config"]
        assert ok(cfg), (sel, cfg)
    # the earlier choices are kept: one run with all of them
    assert cfg["optimizer"]["name"] == "adam" and cfg["schedule"]["name"] == "cosine"
    assert cfg["norm"] == "batch"
    start = lab.mark()
    lab.page.fill("#adv-optimizer-beta1", "0.8")
    lab.page.press("#adv-optimizer-beta1", "Tab")
    assert lab.wait_for_message("run", after=start)["config"]["optimizer"]["beta1"] == 0.8
    start = lab.mark()
    lab.page.click(".features label:has-text('x₁²') input")
    feats = lab.wait_for_message("run", after=start)["config"]["features"]
    assert "x1^2" in feats
    # the network draws the new input
    lab.page.wait_for_selector(".net-svg [data-id='L0.a.2']", timeout=5000)
    lab.step("iteration")
    assert lab.errors == []


def test_advanced_settings_show_only_what_the_chosen_optimizer_and_schedule_use(
        lab: Lab) -> None:
    """A learner sees the fields that do something: SGD's momentum, not Adam's β;
    a step schedule's step size, not cosine's period. Switching optimizer drops the
    settings the new one does not take, so torch.optim's rules never refuse the run."""
    page = lab.page
    page.click(".ctl-adv summary")
    seen = page.is_visible
    assert seen("#adv-optimizer-momentum") and seen("#adv-optimizer-nesterov")
    assert not seen("#adv-optimizer-beta1") and not seen("#adv-optimizer-lr_decay")
    assert not seen("#adv-schedule-step_size") and not seen("#adv-schedule-t_max")
    assert seen("#adv-schedule-warmup") and not seen("#adv-schedule-warmup_start")
    assert not seen("#adv-alpha")  # tanh has no slope
    start = lab.mark()
    page.fill("#adv-optimizer-momentum", "0.9")
    page.press("#adv-optimizer-momentum", "Tab")
    assert lab.wait_for_message("run", after=start)["config"]["optimizer"]["momentum"] == 0.9
    start = lab.mark()
    page.select_option("#adv-optimizer-name", "adam")
    opt = lab.wait_for_message("run", after=start)["config"]["optimizer"]
    assert opt["name"] == "adam" and opt.get("momentum") is None
    page.wait_for_selector("#adv-optimizer-beta1", state="visible", timeout=5000)
    assert not seen("#adv-optimizer-momentum") and not seen("#adv-optimizer-nesterov")
    for value, shown, hidden in (("step", ["step_size", "gamma"], ["t_max", "eta_min"]),
                                 ("cosine", ["t_max", "eta_min"], ["step_size", "gamma"])):
        start = lab.mark()
        page.select_option("#adv-schedule-name", value)
        lab.wait_for_message("run", after=start)
        page.wait_for_selector(f"#adv-schedule-{shown[0]}", state="visible", timeout=5000)
        assert all(seen(f"#adv-schedule-{k}") for k in shown), value
        assert not any(seen(f"#adv-schedule-{k}") for k in hidden), value
    start = lab.mark()
    page.fill("#adv-schedule-warmup", "5")
    page.press("#adv-schedule-warmup", "Tab")
    lab.wait_for_message("run", after=start)
    page.wait_for_selector("#adv-schedule-warmup_start", state="visible", timeout=5000)
    start = lab.mark()
    page.select_option("#ctl-activation", "leaky_relu")
    lab.wait_for_message("run", after=start)
    page.wait_for_selector("#adv-alpha", state="visible", timeout=5000)
    # α is also the output layer's, when mse uses an ELU output
    for path, value in (("#ctl-activation", "tanh"), ("#ctl-dataset", "sine"),
                        ("#adv-output_activation", "elu")):
        start = lab.mark()
        page.select_option(path, value)
        lab.wait_for_message("run", after=start)
        lab.settled()
        assert seen("#adv-alpha") == (value == "elu"), (path, value)
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    page.locator(".ctl-adv").screenshot(path=str(lab.shot_dir / "advanced-adam.png"))
    assert lab.errors == [] and not lab.messages("error")


def test_page_files_arrive_compressed_and_the_socket_still_works(make_lab: Any) -> None:
    lab = make_lab()
    encodings: dict[str, str] = {}

    def on_finished(request: Any) -> None:
        if request.resource_type in ("document", "script", "stylesheet"):
            response = request.response()
            path = request.url.split("//", 1)[1].split("/", 1)[1]
            encodings["/" + path] = response.headers.get("content-encoding", "") if response else ""

    lab.page.on("requestfinished", on_finished)
    lab.open()
    for path in ("/", "/static/js/main.js", "/static/js/i18n.js", "/static/css/main.css"):
        assert encodings.get(path) == "gzip", (path, encodings)
    lab.step()
    assert lab.last("frame")["phase"] == "forward"
    assert lab.errors == []


WATCH_TIP = """() => {
  window.__tipBuilds = 0;
  window.__frames = 0;
  const tick = () => { window.__frames += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new MutationObserver((records) => { window.__tipBuilds += records.length; })
    .observe(document.querySelector('.net-tip'), { childList: true });
}"""


def test_the_tooltip_is_rebuilt_only_when_its_numbers_change(make_lab: Any) -> None:
    lab = make_lab()
    lab.page.add_init_script(CAPTURE_SOCKETS)
    lab.open()
    page = lab.page
    send = "msg => window.__sockets.at(-1).send(JSON.stringify(msg))"
    lab.step("iteration")
    edge = "L2.W.1.3"
    hover_edge(lab, edge)
    page.evaluate(WATCH_TIP)
    shown = lab.text(".net-tip")
    # messages that leave the numbers as they are (the state replies to pauses)
    for _ in range(6):  # one at a time: the outbox keeps only the latest pending state
        mark = lab.mark()
        page.evaluate(send, {"type": "pause"})
        lab.wait_for_message("state", after=mark)
        lab.settled()
    assert page.evaluate("window.__tipBuilds") == 0
    assert lab.text(".net-tip") == shown

    # fast play: several messages per animation frame, the tooltip at most once a frame
    page.evaluate("() => { window.__tipBuilds = 0; window.__frames = 0; }")
    mark = lab.mark()
    frames_before = len(lab.messages("frame"))
    page.evaluate(send, {"type": "play", "speed": 100})
    lab.wait_until(lambda: len(lab.messages("frame")) - frames_before >= 120,
                   what="30 iterations of fast play")
    page.evaluate(send, {"type": "pause"})
    lab.wait_for_message("state", after=mark, playing=False)
    lab.settled()
    builds, frames = page.evaluate("[window.__tipBuilds, window.__frames]")
    received = len(lab.received) - mark
    # (+1: the build and the frame counter may run in either order within one frame)
    assert 0 < builds <= frames + 1 and builds < received, (builds, frames, received)
    # and it still follows the run: the weight of the last update frame
    upd = lab.last("frame", phase="update")["values"]
    lab.wait_until(lambda: abs(tooltip_value(lab, "w") - upd["L2.W"][1][3]) < 6e-5,
                   timeout=3, what="the tooltip showing the last update's weight")
    # switching the language while paused relabels the open tooltip too
    assert "weight" in lab.text(".net-tip")
    page.keyboard.press("l")  # the language key: the pointer stays on the edge
    lab.wait_until(lambda: "重み" in lab.text(".net-tip"), timeout=3,
                   what="the tooltip in Japanese")
    assert lab.errors == []
