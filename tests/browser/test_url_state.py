"""Shareable state in real Chromium: the address bar always holds the run's settings and
seed, and opening that link in another browser gives the identical run, number for number."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Lab


def frames(lab: Lab) -> list[dict[str, Any]]:
    return lab.messages("frame")


def test_a_link_reproduces_the_run_number_for_number(make_lab: Any) -> None:
    link = ("/?dataset=moons&n=120&noise=0.2&hidden=5,3&act=relu&init=he_normal&opt=adam"
            "&lr=0.02&batch=16&seed=41&l2=0.001")
    a = make_lab().open(link)
    run_a = a.wait_for_run(dataset="moons", seed=41, hidden=[5, 3], activation="relu")
    assert run_a["config"]["optimizer"]["name"] == "adam"
    assert run_a["config"]["l2"] == 0.001 and run_a["config"]["noise"] == 0.2
    # the address bar now spells out every setting (defaults included)
    parts = ["dataset=moons", "seed=41", "hidden=5%2C3", "opt=adam", "init=he_normal",
             "test=0.5"]
    a.page.wait_for_function("parts => parts.every(p => location.href.includes(p))", arg=parts)
    url = a.page.url
    for _ in range(3):
        a.step("iteration")
    # a second browser opens the address as it is now
    b = make_lab()
    b.page.goto(url)
    b.wait_ready()
    run_b = b.wait_for_run(dataset="moons", seed=41)
    assert run_b["config"] == run_a["config"]
    assert run_b["data"] == run_a["data"]
    assert run_b["params"] == run_a["params"]
    for _ in range(3):
        b.step("iteration")
    fa = [(m["phase"], m["iteration"], m["values"]) for m in frames(a)]
    fb = [(m["phase"], m["iteration"], m["values"]) for m in frames(b)]
    assert len(fa) == len(fb) == 12
    assert fa == fb  # bit-identical: the same JSON numbers
    assert a.errors == [] and b.errors == []


def test_changing_a_setting_in_the_page_updates_the_address(lab: Lab) -> None:
    assert "dataset=xor" in lab.page.url
    lab.page.select_option("[data-slot='controls'] #ctl-dataset", "spiral")
    lab.wait_for_run(dataset="spiral")
    lab.page.wait_for_function("() => location.search.includes('dataset=spiral')",
                               timeout=5000)


def test_the_url_table_covers_every_run_setting(lab: Lab) -> None:
    """The table is built from the catalog: every run setting, every optimizer's and
    every schedule's parameter has one query name (the short names of older links
    kept), and settings go through a link and back unchanged."""
    config = lab.last("run")["config"]
    result = lab.page.evaluate(
        """async (config) => {
            const u = await import('/static/js/url-state.js');
            const { loadCatalog } = await import('/static/js/catalog.js');
            const catalog = await loadCatalog();
            const props = u.urlProps(catalog);
            const paths = props.map((p) => p.path);
            const nested = ['optimizer', 'schedule'];
            const want = [
                ...catalog.settings.filter((p) => !nested.includes(p.name)).map((p) => p.name),
                'points', 'optimizer.name', 'schedule.name',
                ...catalog.allOptimizerParams().map((p) => 'optimizer.' + p.name),
                ...catalog.scheduleParams.map((p) => 'schedule.' + p.name)];
            const leaves = [];
            const walk = (o, pre) => {
                for (const [k, v] of Object.entries(o)) {
                    if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, pre + k + '.');
                    else leaves.push(pre + k);
                }
            };
            walk(config, '');
            const trip = (c) => {
                const link = u.decodeSettings(u.encodeSettings(c, props), props).settings;
                return JSON.stringify(u.mergeSettings(c, link)) === JSON.stringify(c);
            };
            const rms = {...config, optimizer: {name: 'rmsprop', alpha: 0.9, centered: true}};
            // the own dataset's table never goes in a link (a run file carries it)
            return {missing: leaves.filter((p) => !paths.includes(p) && p !== 'table'),
                    uncovered: want.filter((p) => !paths.includes(p)),
                    extra: paths.filter((p) => !want.includes(p)),
                    names: props.map((p) => p.name),
                    byName: Object.fromEntries(props.map((p) => [p.name, p.path])),
                    same: trip(config) && trip(rms)};
        }""", config)
    assert result["missing"] == [], "RunSettings fields missing from the URL table"
    assert result["uncovered"] == [] and result["extra"] == []
    assert len(set(result["names"])) == len(result["names"])
    old = {"n": "n_samples", "test": "test_fraction", "act": "activation", "acts":
           "layer_activations", "out": "output_activation", "opt": "optimizer.name",
           "wd": "optimizer.weight_decay", "rms_alpha": "optimizer.alpha",
           "acc0": "optimizer.initial_accumulator_value", "sched": "schedule.name",
           "batch": "batch_size", "alpha": "alpha", "momentum": "optimizer.momentum"}
    assert {k: result["byName"].get(k) for k in old} == old
    assert result["same"]


def test_reloading_the_tab_resumes_the_run_instead_of_restarting_it(make_lab: Any) -> None:
    lab = make_lab().open("/?dataset=gauss&seed=9&lr=0.1")
    lab.wait_for_run(dataset="gauss", seed=9)
    lab.step("iteration")
    # the address holds the run at iteration 1 once the page has encoded it
    lab.page.wait_for_function("() => location.search.startsWith('?run=')")
    earlier = lab.page.evaluate("() => location.search")
    lab.step("iteration")
    mark = lab.mark()
    lab.page.reload()
    lab.wait_ready()
    lab.settled()  # the page has seen its run (and sent a configure, were it to)...
    lab.sync()  # ...and the server has answered whatever it sent
    runs = [m for m in lab.received[mark:] if m["type"] == "run"]
    assert len(runs) == 1, [r["state"] for r in runs]  # the same session, no fresh configure
    assert runs[0]["config"]["dataset"] == "gauss" and runs[0]["config"]["seed"] == 9
    assert runs[0]["state"]["iteration"] == 2
    # a reload just after a step, while the page is still encoding the run's new link: the
    # browser reloads the address before it (the run at iteration 1) and the tab's own record
    # is newer. The run resumes all the same: it is not rewound to that address
    lab.page.evaluate("q => history.replaceState(history.state, '', q)", earlier)
    mark = lab.mark()
    lab.page.reload()
    lab.wait_ready()
    lab.settled()
    lab.sync()
    runs = [m for m in lab.received[mark:] if m["type"] == "run"]
    assert [r["state"]["iteration"] for r in runs] == [2]


def test_a_link_configures_a_fresh_tab_but_not_a_reload_of_its_own_address(lab: Lab) -> None:
    config = lab.last("run")["config"]
    sent = lab.page.evaluate(
        """async (config) => {
            const u = await import('/static/js/url-state.js');
            const { loadCatalog } = await import('/static/js/catalog.js');
            const catalog = await loadCatalog();
            const props = u.urlProps(catalog);
            const env = (search, stored) => {
                const sent = [];
                const store = new Map(stored === null ? [] : [['bpl.urlQuery', stored]]);
                const location = new URL('http://lab.test/' + search);
                return {sent, sync: new u.UrlSync({
                    location, catalog, send: (m) => sent.push(m),
                    history: {state: null, replaceState: (s, t, href) => {
                        location.href = href; }},
                    storage: {getItem: (k) => store.get(k) ?? null,
                              setItem: (k, v) => store.set(k, v)}})};
            };
            // the run moved on (lr changed mid-run); the address still has lr=0.5
            const moved = {...config, lr: 0.25};
            const query = u.encodeSettings({...config, lr: 0.5}, props);
            const fresh = env('?' + query, null);
            fresh.sync.onRun({type: "run", config: moved});
            const reload = env('?' + query, query);
            reload.sync.onRun({type: "run", config: moved});
            return [fresh.sent, reload.sent];
        }""", config)
    fresh, reload = sent
    assert [m["type"] for m in fresh] == ["configure"] and fresh[0]["config"]["lr"] == 0.5
    assert reload == []


def test_a_setting_changed_before_the_links_run_comes_keeps_both(make_lab: Any) -> None:
    """A learner who picks a dataset the moment a link's page shows its first run (the
    link's settings still on their way) gets that dataset *and* the link's network."""
    lab = make_lab()
    held: list[str] = []  # the page's configures, held back as on a slow network
    sockets: list[Any] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        sockets.append(server)
        ws.on_message(lambda m: held.append(m) if '"configure"' in m else server.send(m))

    lab.page.route_web_socket("**/ws", route)
    lab.page.goto(lab.base_url + "/?hidden=8&opt=adam&lr=0.03&batch=16")
    lab.wait_until(lambda: len(held) == 1, what="the link's configure")
    lab.page.select_option("#ctl-dataset", "iris")
    lab.wait_until(lambda: len(held) == 2, what="the learner's configure")
    assert len(sockets) == 1
    for m in held:  # they reach the server in the order the page sent them
        sockets[0].send(m)
    run = lab.wait_for_run(dataset="iris")
    assert run["config"]["hidden"] == [8] and run["config"]["optimizer"]["name"] == "adam"
    assert run["config"]["lr"] == 0.03 and run["config"]["batch_size"] == 16
    lab.page.wait_for_function("() => location.search.includes('dataset=iris')")
    assert "opt=adam" in lab.page.url and lab.errors == []
