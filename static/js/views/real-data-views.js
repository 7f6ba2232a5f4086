/**
 * The views a run on a table needs beside its map, loaded with the first such run
 * (views/neuron-maps.js loads this module then; the toy planes never do): which two
 * inputs the map shows, the split and the confusion matrix (table-data.js), the
 * examples the network gets wrong (misclassified.js; a click on a wrong cell of the
 * matrix shows that pair's), and for inputs that are a picture (digits) a pad to
 * draw one (digit-pad.js) and each first-layer unit's weights as an image
 * (unit-images.js).
 */

import { TableData } from './table-data.js';
import { Misclassified } from './misclassified.js';
import { UnitImages } from './unit-images.js';
import { DigitPad } from './digit-pad.js';

/** The views, fed the page's events; see the module comment. */
export class RealDataViews {
  /**
   * @param {HTMLElement} container
   * @param {{t: Function, i18n: {t: Function, has: Function}, act: (name: string, arg?: any) => void,
   *   catalog: object|null}} options
   */
  constructor(container, { t, i18n, act, catalog }) {
    this.catalog = catalog;
    this.table = new TableData(container, { t, i18n, onAxes: (axes) => act('map-axes', axes),
      onCell: (pair) => this.wrong.filter(pair) });
    this.wrong = new Misclassified(container, { t, i18n, onClear: () => this.table.pickPair(null) });
    this.pad = new DigitPad(container, {
      t, onDraw: (pixels) => act('draw', pixels), onLearn: (pixels, label) => act('learn', { pixels, label }),
    });
    this.units = new UnitImages(container, { t });
  }

  /** Whether the current run's map is a slice through more than two inputs. */
  get many() {
    return Boolean(this.table.many);
  }

  /** One page event (run, maps, drawn, frame, lang). */
  update({ kind, msg, model }) {
    if (kind === 'run') {
      this.table.setRun(msg);
      this.wrong.setRun(msg);
      const ds = this.catalog ? this.catalog.entry('datasets', msg.config.dataset) : null;
      const sizes = msg.net.sizes;
      const image = ds && ds.image && ds.image[0] * ds.image[1] === sizes[0] && sizes.length > 2 ? ds.image : null;
      this.units.setRun(image, image ? sizes[1] : 0);
      this.pad.setRun(ds && ds.image && !msg.config.table ? ds.image : null);
      this.units.update(model, null);
    } else if (kind === 'maps') {
      this.table.update(msg);
      this.wrong.update(msg);
    } else if (kind === 'drawn') this.pad.update(msg);
    else if (kind === 'frame') {
      this.units.update(model, msg.phase);
      this.pad.frame(msg);
    }
    else if (kind === 'lang') {
      this.table.render();
      this.wrong.render();
      this.units.relabel();
      this.pad.render();
    }
  }
}
