"""The page builds its choices from the server's catalog (static/js/catalog.js): every
catalog name has a label in both languages, and a choice the page has never heard of
(an optimizer added to the engine) reaches the controls, the timeline and the address
bar with no change to the page, labelled by its own name until the strings
(strings-ja.js, strings-en.js) have one."""

from __future__ import annotations

from tests.browser.conftest import Lab

LABELS = """async () => {
  const { loadCatalog } = await import('/static/js/catalog.js');
  const { LANGS, loadStrings } = await import('/static/js/i18n.js');
  const tables = Object.fromEntries(
    await Promise.all(LANGS.map(async (l) => [l, await loadStrings(l)])));
  const { settingLabelKey } = await import('/static/js/views/controls-view.js');
  const catalog = await loadCatalog();
  const keys = [...catalog.labelKeys().map(([key]) => key),
                ...catalog.settings.map((p) => settingLabelKey(p.name))];
  return { count: keys.length,
           missing: keys.filter((k) => !LANGS.every((l) => tables[l][k])) };
}"""


def test_every_catalog_name_has_a_label_in_japanese_and_english(lab: Lab) -> None:
    got = lab.page.evaluate(LABELS)
    assert got["count"] > 80  # datasets, menus' options, parameters, states, settings
    assert got["missing"] == [], "add these keys to static/js/strings-ja.js and strings-en.js"


NEW_OPTIMIZER = """async (config) => {
  const { Catalog, CATALOG_URL } = await import('/static/js/catalog.js');
  const { ControlsView } = await import('/static/js/views/controls-view.js');
  const { TimelineView } = await import('/static/js/views/timeline.js');
  const u = await import('/static/js/url-state.js');
  const { I18n } = await import('/static/js/i18n.js');
  const json = await (await fetch(CATALOG_URL)).json();
  json.optimizers.push({ name: 'lion', torch: 'Lion', rule: 'p ← p − η sign(c)', state: [],
    params: [{ name: 'lion_beta', type: 'float', default: 0.9, min: 0, max: 1,
               min_inclusive: true, max_inclusive: false, step: 0.01 }] });
  const catalog = new Catalog(json);
  const i18n = new I18n('ja');
  await i18n.load('ja');
  const sent = [];
  const act = (name, arg) => sent.push([name, arg]);
  const box = document.createElement('div');
  const controls = new ControlsView(box, { i18n, act, catalog });
  const state = { playing: false, speed: 2 };
  const seen = (id) => !box.querySelector(`#${id}`).closest('.field').hidden;
  controls.update({ kind: 'run', model: { config, state } });
  const before = seen('adv-optimizer-lion_beta');
  const menu = box.querySelector('#adv-optimizer-name');
  const option = (value) => menu.querySelector(`option[value="${value}"]`).textContent;
  menu.value = 'lion';
  menu.dispatchEvent(new Event('change'));
  const lion = { ...config, optimizer: { name: 'lion', lion_beta: 0.5 } };
  controls.update({ kind: 'run', model: { config: lion, state } });
  const field = box.querySelector('#adv-optimizer-lion_beta');
  const tl = document.createElement('div');
  new TimelineView(tl, { t: (k, p) => i18n.t(k, p), act, i18n, catalog });
  const props = u.urlProps(catalog);
  const link = u.decodeSettings(u.encodeSettings(lion, props), props).settings;
  return {
    before, after: seen('adv-optimizer-lion_beta'), momentum: seen('adv-optimizer-momentum'),
    options: [option('lion'), option('adam')], sent: sent[0],
    label: box.querySelector('label[for="adv-optimizer-lion_beta"]').textContent,
    value: field.value, max: field.max, step: field.step,
    timeline: [...tl.querySelectorAll('#tl-optimizer option')].map((o) => o.value),
    url: props.find((p) => p.path === 'optimizer.lion_beta'), link: link.optimizer,
  };
}"""


def test_an_optimizer_added_to_the_catalog_reaches_the_page_with_no_change_to_it(
        lab: Lab) -> None:
    config = lab.last("run")["config"]
    got = lab.page.evaluate(NEW_OPTIMIZER, config)
    # offered in the controls' menu under its own name (no label yet), beside labelled ones
    assert got["options"] == ["lion", "Adam"]
    # choosing it sends a run of it, without the previous optimizer's settings
    assert got["sent"][0] == "configure" and got["sent"][1]["optimizer"] == {"name": "lion"}
    # its hyper-parameter is a field shown only under it, labelled by its name, with the
    # catalog's range (β < 1, step 0.01: at most 0.99)
    assert (got["before"], got["after"], got["momentum"]) == (False, True, False)
    assert got["label"] == "lion_beta" and got["value"] == "0.5"
    assert (got["max"], got["step"]) == ("0.99", "0.01")
    # the timeline offers it, and a link carries its setting
    assert got["timeline"][-1] == "lion"
    assert got["url"] == {"name": "lion_beta", "path": "optimizer.lion_beta", "type": "float"}
    assert got["link"] == {"name": "lion", "lion_beta": 0.5}
    assert lab.errors == []


def test_two_settings_changed_in_quick_succession_both_hold(lab: Lab) -> None:
    """Normalization then the optimizer, in the same moment (before the first one's run
    has come): the second is asked on top of the first (it was asked from the run before
    the first, and undid it: the run had Adam and no batch norm)."""
    lab.page.evaluate("""() => {
        const pick = (id, value) => {
            const el = document.querySelector(id);
            el.value = value;
            el.dispatchEvent(new Event('change', { bubbles: true }));
        };
        pick('#adv-norm', 'batch');
        pick('#adv-optimizer-name', 'adam');
    }""")
    lab.wait_until(lambda: lab.messages("run")[-1]["config"]["optimizer"]["name"] == "adam",
                   what="the optimizer's run")
    last = lab.messages("run")[-1]["config"]
    assert (last["norm"], last["optimizer"]["name"]) == ("batch", "adam"), last
    lab.settled()
    assert lab.page.eval_on_selector("#adv-norm", "e => e.value") == "batch"
    assert lab.errors == []
