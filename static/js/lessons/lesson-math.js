/**
 * A lesson's text with its formulas: the TeX subset of docs/lessons.md
 * (server/lessons.py's TEX_COMMANDS) turned into MathML, with no library.
 *
 * `$…$` marks a formula; everything else is plain text, and a line break
 * starts a new paragraph. The server refuses a lesson whose formulas use
 * another command or unbalanced braces, so the parser here can stay small: a
 * command it does not know (a newer lesson file against an older page) is
 * shown as its own text rather than throwing.
 *
 * Grammar (recursive descent over tokens):
 *   row    := atom* (until `}` or the end)
 *   atom   := base ("'")* (("_" | "^") arg)*
 *   base   := "{" row "}" | \frac arg arg | \sqrt arg | \hat arg | \bar arg
 *           | \text{…} | \mathrm{…} | \left d | \right d | symbol | number | letter | operator
 *   arg    := "{" row "}" | one base
 */

const MATHML = 'http://www.w3.org/1998/Math/MathML';

/** Commands that stand for one identifier (Greek letters, ℓ). */
const IDENT = Object.freeze({
  alpha: 'α', beta: 'β', gamma: 'γ', delta: 'δ', epsilon: 'ϵ', varepsilon: 'ε', eta: 'η', theta: 'θ',
  lambda: 'λ', mu: 'μ', nu: 'ν', xi: 'ξ', pi: 'π', rho: 'ρ', sigma: 'σ', tau: 'τ', phi: 'ϕ', omega: 'ω',
  Delta: 'Δ', Sigma: 'Σ', ell: 'ℓ', infty: '∞', top: '⊤', partial: '∂', nabla: '∇',
});
/** Commands that stand for one operator. */
const OPERATOR = Object.freeze({
  cdot: '·', times: '×', div: '÷', odot: '⊙', leftarrow: '←', rightarrow: '→', to: '→', approx: '≈',
  ne: '≠', le: '≤', ge: '≥', lt: '<', gt: '>', pm: '±', sim: '∼', lfloor: '⌊', rfloor: '⌋',
  lVert: '‖', rVert: '‖', cdots: '⋯', ldots: '…', sum: '∑', prod: '∏', '{': '{', '}': '}',
});
/** Function names, set upright. */
const FUNCTION = Object.freeze(new Set(['log', 'exp', 'max', 'min', 'tanh']));
/** Spaces, in em. */
const SPACE = Object.freeze({ ',': 0.17, quad: 1 });
/** Characters written as operators (the hyphen is a true minus). */
const OPERATOR_CHARS = Object.freeze({
  '+': '+', '-': '−', '=': '=', '<': '<', '>': '>', '(': '(', ')': ')', '[': '[', ']': ']',
  '|': '|', ',': ',', '/': '/', '.': '.', ':': ':', ';': ';', '!': '!', '*': '∗',
});

/** Create a MathML element with children (strings become text). */
function m(tag, ...children) {
  const el = document.createElementNS(MATHML, tag);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

function upright(name) {
  const el = m('mi', name);
  if ([...name].length === 1) el.setAttribute('mathvariant', 'normal');
  return el;
}

/**
 * The tokens of a formula: {t: 'cmd', v: name} for `\name` (or `\,`), {t: 'num', v},
 * {t: 'char', v} for anything else but spaces (which TeX's maths ignores).
 * @param {string} tex
 */
export function tokenize(tex) {
  const out = [];
  let i = 0;
  while (i < tex.length) {
    const c = tex[i];
    if (c === '\\') {
      const word = /^[A-Za-z]+/.exec(tex.slice(i + 1));
      const name = word ? word[0] : tex[i + 1] || '';
      out.push({ t: 'cmd', v: name, at: i });
      i += 1 + name.length;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(tex[i + 1] || ''))) {
      const num = /^[0-9]*\.?[0-9]+|^[0-9]+/.exec(tex.slice(i))[0];
      out.push({ t: 'num', v: num, at: i });
      i += num.length;
    } else if (/\s/.test(c)) {
      i += 1;
    } else {
      out.push({ t: 'char', v: c, at: i });
      i += 1;
    }
  }
  return out;
}

/** A parser over one formula's tokens (see the module comment for the grammar). */
class Parser {
  constructor(tex) {
    this.tex = tex;
    this.tokens = tokenize(tex);
    this.i = 0;
  }

  peek() {
    return this.tokens[this.i];
  }

  next() {
    return this.tokens[this.i++];
  }

  /** Atoms until a closing brace (consumed) or the end. */
  row() {
    const items = [];
    while (this.i < this.tokens.length) {
      const tok = this.peek();
      if (tok.t === 'char' && tok.v === '}') {
        this.i += 1;
        break;
      }
      const a = this.atom();
      if (a) items.push(a);
    }
    return items;
  }

  /** `{…}` as one element, or the next single base. */
  arg() {
    const tok = this.peek();
    if (!tok) return m('mrow');
    if (tok.t === 'char' && tok.v === '{') {
      this.i += 1;
      return m('mrow', this.row());
    }
    return this.base() || m('mrow');
  }

  /** The raw text of a `{…}` group (for \text and \mathrm), braces balanced. */
  rawGroup() {
    const tok = this.peek();
    if (!tok || tok.v !== '{') return '';
    const start = tok.at + 1;
    let depth = 0;
    while (this.i < this.tokens.length) {
      const t = this.next();
      if (t.t === 'char' && t.v === '{') depth += 1;
      else if (t.t === 'char' && t.v === '}') {
        depth -= 1;
        if (depth === 0) return this.tex.slice(start, t.at);
      }
    }
    return this.tex.slice(start);
  }

  atom() {
    let el = this.base();
    if (!el) return null;
    let primes = '';
    while (this.peek() && this.peek().t === 'char' && this.peek().v === "'") {
      this.i += 1;
      primes += '′';
    }
    if (primes) {
      // on the line, not raised: without a math font a superscript ′ flies too high
      const prime = m('mo', primes);
      prime.setAttribute('lspace', '0');
      prime.setAttribute('rspace', '0');
      el = m('mrow', el, prime);
    }
    let sub = null;
    let sup = null;
    for (;;) {
      const tok = this.peek();
      if (!tok || tok.t !== 'char' || (tok.v !== '_' && tok.v !== '^')) break;
      this.i += 1;
      if (tok.v === '_' && !sub) sub = this.arg();
      else if (tok.v === '^' && !sup) sup = this.arg();
      else this.arg(); // a double script: TeX refuses it; keep reading
    }
    if (sub && sup) return m('msubsup', el, sub, sup);
    if (sub) return m('msub', el, sub);
    if (sup) return m('msup', el, sup);
    return el;
  }

  base() {
    const tok = this.next();
    if (!tok) return null;
    if (tok.t === 'num') return m('mn', tok.v);
    if (tok.t === 'char') {
      if (tok.v === '{') return m('mrow', this.row());
      if (tok.v === '}') return null; // unbalanced: the server refuses it; skip
      if (/[A-Za-z]/.test(tok.v)) return m('mi', tok.v);
      if (tok.v === "'") return m('mo', '′');
      if (tok.v === '_' || tok.v === '^') return this.arg(); // a script with no base
      if (OPERATOR_CHARS[tok.v]) return m('mo', OPERATOR_CHARS[tok.v]);
      if (/[\u0000-\u007f]/.test(tok.v)) return m('mo', tok.v);
      return m('mtext', tok.v); // a word in another script inside a formula
    }
    return this.command(tok.v);
  }

  command(name) {
    if (name === 'frac') {
      const num = this.arg();
      return m('mfrac', num, this.arg());
    }
    if (name === 'sqrt') return m('msqrt', this.arg());
    if (name === 'hat' || name === 'bar') {
      const over = m('mo', name === 'hat' ? 'ˆ' : '¯');
      over.setAttribute('stretchy', 'false');
      const el = m('mover', this.arg(), over);
      el.setAttribute('accent', 'true');
      return el;
    }
    if (name === 'text') return m('mtext', this.rawGroup());
    if (name === 'mathrm') return upright(this.rawGroup().replace(/\s+/g, ' ').trim());
    if (name === 'left' || name === 'right') {
      const d = this.next();
      if (!d) return null;
      if (d.t === 'cmd') return OPERATOR[d.v] ? m('mo', OPERATOR[d.v]) : null;
      return d.v === '.' ? null : m('mo', OPERATOR_CHARS[d.v] || d.v);
    }
    if (IDENT[name]) return m('mi', IDENT[name]);
    if (OPERATOR[name]) return m('mo', OPERATOR[name]);
    if (FUNCTION.has(name)) return upright(name);
    if (name in SPACE) {
      const el = m('mspace');
      el.setAttribute('width', `${SPACE[name]}em`);
      return el;
    }
    return m('mtext', `\\${name}`); // not in the subset: shown as written
  }
}

/**
 * One formula as an inline `<math>` element, its TeX kept in `alttext`.
 * @param {string} tex a formula of the subset, without the dollars
 * @returns {MathMLElement}
 */
export function texToMathML(tex) {
  const math = m('math', m('mrow', new Parser(tex).row()));
  math.setAttribute('alttext', tex);
  return math;
}

/**
 * Text with `$…$` formulas as a list of nodes: strings and `<math>` elements.
 * @param {string} text
 * @returns {Array<string|Element>}
 */
export function inlineMath(text) {
  const parts = String(text).split('$');
  // an odd dollar (never sent by the server) leaves the rest as text
  if (parts.length % 2 === 0) return [String(text)];
  return parts.map((p, k) => (k % 2 ? texToMathML(p) : p)).filter((p) => p !== '');
}

/**
 * Text with formulas and line breaks as paragraphs: one `<p>` a line.
 * @param {string} text
 * @param {string} [className] the paragraphs' class
 * @returns {HTMLParagraphElement[]}
 */
export function richParagraphs(text, className) {
  return String(text).split(/\n+/).filter((line) => line.trim()).map((line) => {
    const p = document.createElement('p');
    if (className) p.className = className;
    p.append(...inlineMath(line));
    return p;
  });
}
