/**
 * The session connection: one WebSocket to `/ws`, re-opened by itself.
 *
 * It asks for batched delivery (`hello` with `batch: true`): a frame may then
 * hold a JSON array of messages, delivered one by one in order; and for packed
 * frames (`packed: true`): a batch holding fast play's frames comes as one binary
 * message, their numbers as float64 (`decodePacked`).
 *
 * Knows nothing of the DOM. It greets the server with `hello` carrying the
 * previous session id (kept in the given storage, normally sessionStorage),
 * so a reload or a dropped connection resumes the same session (unless the
 * page follows a class's shared run: then `hello` names the run to follow, and
 * a followed run's `session: null` is never remembered); reconnects
 * with exponential back-off and jitter; and decodes the protocol's
 * non-finite strings ("NaN", "Infinity", "-Infinity") back into numbers.
 */

const STORAGE_KEY = 'bpl.session';
/** Close codes after which the remembered session must not be resumed (docs/protocol.md):
 * 4000 the server freed it for being idle; 4001 another connection (say, a duplicated tab)
 * resumed it — taking it back would make the two tabs fight over one session. */
const FORGET_SESSION = new Set([4000, 4001]);
/** Whether this machine's Float64Array reads the wire's little-endian numbers as they are. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const NONFINITE = new Map([['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]]);

/** Parse one server frame, turning the non-finite string encodings into numbers. */
export function decodeMessage(text) {
  // A reviver makes JSON.parse several times slower: use it only when needed.
  if (!text.includes('"NaN"') && !text.includes('Infinity"')) return JSON.parse(text);
  return JSON.parse(text, (_k, v) => (typeof v === 'string' && NONFINITE.has(v) ? NONFINITE.get(v) : v));
}

/**
 * Decode a binary message: a batch whose fast-play frames are packed (docs/protocol.md,
 * "Packed frames"). A little-endian u32 J, J bytes of JSON (the batch's messages, a
 * `packed` message standing for an iteration's four compact frames), then float64
 * numbers, little-endian; each `packed` message's layout says, phase by phase, which
 * values its frames hold and their shapes, read in order from number `at` on. A layout
 * comes once a connection, with the first `packed` message naming it (`lid`): `layouts`
 * (a Map, the connection's) keeps them. Returns the batch's messages with each `packed`
 * one replaced by its frames, as the JSON of those frames would have given them (the
 * same numbers: a JSON number is a float64).
 */
export function decodePacked(buffer, layouts = new Map()) {
  const view = new DataView(buffer);
  const j = view.getUint32(0, true);
  const batch = decodeMessage(new TextDecoder().decode(new Uint8Array(buffer, 4, j)));
  const start = 4 + j;
  const count = (buffer.byteLength - start) / 8;
  const numbers = LITTLE_ENDIAN && start % 8 === 0
    ? new Float64Array(buffer, start, count)
    : Float64Array.from({ length: count }, (_, i) => view.getFloat64(start + 8 * i, true));
  const out = [];
  for (const msg of batch) {
    if (msg.type !== 'packed') {
      out.push(msg);
      continue;
    }
    if (msg.layout) layouts.set(msg.lid, msg.layout);
    const layout = layouts.get(msg.lid);
    if (!layout) {
      console.error(`packed frames of an unknown layout ${msg.lid}`);
      continue;
    }
    let at = msg.at;
    for (const [phase, ids] of layout) {
      const values = {};
      for (const [name, shape] of ids) {
        const size = shape.reduce((a, b) => a * b, 1);
        values[name] = shapedValue(numbers, at, shape);
        at += size;
      }
      out.push({ type: 'frame', phase, iteration: msg.iteration, compact: true, values });
    }
  }
  return out;
}

/** `shape` numbers from `numbers[at]` on as JSON would hold them: a number for a shape
 * of [], else nested arrays, row-major. */
function shapedValue(numbers, at, shape) {
  if (shape.length === 0) return numbers[at];
  if (shape.length === 1) return Array.from(numbers.subarray(at, at + shape[0]));
  const inner = shape.slice(1);
  const step = inner.reduce((a, b) => a * b, 1);
  const rows = [];
  for (let r = 0; r < shape[0]; r++) rows.push(shapedValue(numbers, at + r * step, inner));
  return rows;
}

/** Delay before reconnect attempt `n` (0-based): doubling from `min` up to `max`, ±20 % jitter. */
export function backoffDelay(n, min, max, random) {
  const base = Math.min(max, min * 2 ** n);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** A self-healing session socket; `onMessage(msg)` and `onStatus(status)` are its only outputs. */
export class SessionSocket {
  /**
   * @param {object} o
   * @param {string} o.url ws:// or wss:// address of `/ws`
   * @param {Storage} [o.storage] where the session id survives reloads
   * @param {(msg: object) => void} o.onMessage decoded server messages
   * @param {(s: {state: string, retryIn?: number}) => void} [o.onStatus]
   * @param {() => object} [o.hello] extra fields for `hello` (e.g. lang; `follow` leaves the
   *   remembered session out), asked again on every (re)connection
   */
  constructor({ url, storage = null, onMessage, onStatus = () => {}, hello = () => ({}),
    WebSocketImpl = WebSocket, minDelay = 500, maxDelay = 10000, random = Math.random }) {
    this.url = url;
    this.storage = storage;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.hello = hello;
    this.WebSocketImpl = WebSocketImpl;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.random = random;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  /** The remembered session id, if any. */
  get sessionId() {
    try {
      return this.storage ? this.storage.getItem(STORAGE_KEY) : null;
    } catch {
      return null;
    }
  }

  /** Open the connection (and keep it open until {@link stop}). */
  start() {
    this.stopped = false;
    this.open();
  }

  /** Close for good (the status says so: `ended`). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
    this.ws = null;
    this.onStatus({ state: 'ended' });
  }

  /** Send a client message; false when not connected (the caller may say so). */
  send(msg) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Whether messages can be sent now. */
  get connected() {
    return Boolean(this.ws && this.ws.readyState === 1);
  }

  receive(msg) {
    if (msg.type === 'run' && msg.session && this.storage) {
      try {
        this.storage.setItem(STORAGE_KEY, msg.session);
      } catch {
        /* storage full or disabled: resuming just will not work */
      }
    }
    this.onMessage(msg);
  }

  open() {
    this.onStatus({ state: 'connecting' });
    const ws = new this.WebSocketImpl(this.url);
    ws.binaryType = 'arraybuffer'; // (packed frames: decodePacked)
    const layouts = new Map(); // (packed frames' layouts, each sent once a connection)
    this.ws = ws;
    ws.onopen = () => {
      const extra = this.hello();
      // A page following a shared run (`follow`) asks for that run, never for a session of its own.
      const session = extra.follow ? null : this.sessionId;
      // batch: the server may send several messages as one JSON array (fewer sends);
      // packed: fast play's frames as float64 in a binary message (decodePacked).
      ws.send(JSON.stringify({
        type: 'hello', ...(session ? { session } : {}), batch: true, packed: true, ...extra,
      }));
      this.onStatus({ state: 'open' });
    };
    ws.onmessage = (ev) => {
      this.attempt = 0; // only a server that talks resets the back-off
      const data = typeof ev.data === 'string' ? decodeMessage(ev.data)
        : decodePacked(ev.data, layouts);
      for (const msg of Array.isArray(data) ? data : [data]) this.receive(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      if (FORGET_SESSION.has(ev.code) && this.storage) {
        try {
          this.storage.removeItem(STORAGE_KEY);
        } catch {
          /* nothing remembered then */
        }
      }
      const delay = backoffDelay(this.attempt++, this.minDelay, this.maxDelay, this.random);
      this.onStatus({ state: 'closed', retryIn: delay });
      this.timer = setTimeout(() => this.open(), delay);
    };
    ws.onerror = () => {
      /* a close event always follows; reconnecting happens there */
    };
  }
}
