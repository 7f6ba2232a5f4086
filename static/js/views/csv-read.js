/**
 * A learner's CSV file read for sending (views/csv-picker.js loads this with the first
 * file picked or dropped): refused here when it is too large for one message, and
 * decoded in the encoding it was saved in.
 */

/** Bytes a CSV may have: a message must fit the server's max_message_bytes (64 KB by default). */
export const MAX_CSV_BYTES = 60_000;

/** Characters a European file read as Shift_JIS turns into (private use, half-width kana). */
const NOT_JAPANESE = /[\uE000-\uF8FF\uFF61-\uFF9F]/gu;
/** A kanji between two Latin letters: "Temp駻ature" is "Température" read as Shift_JIS. */
const INSIDE_A_WORD = /[A-Za-z][\u4E00-\u9FFF][A-Za-z]/gu;
/** Kana, or two kanji in a row: Japanese words. */
const JAPANESE = /[\u3040-\u30FF]|[\u4E00-\u9FFF]{2}/gu;

/** How many times `re` matches `text`. */
function count(text, re) {
  return (text.match(re) || []).length;
}

/**
 * A file's text: UTF-16 or UTF-8 by its byte-order mark, else UTF-8 if it reads whole;
 * else Shift_JIS (what Japanese Excel saves as "CSV") or Windows-1252 (a European
 * spreadsheet's), whichever reads as words (most Windows-1252 files also read as
 * Shift_JIS, into kanji inside Latin words); on a tie, the page's language decides.
 * @param {ArrayBuffer} bytes
 * @param {string} [lang] the page's language
 * @returns {string}
 */
export function decodeCsv(bytes, lang = 'en') {
  const b = new Uint8Array(bytes.slice(0, 2));
  if (b[0] === 0xff && b[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  if (b[0] === 0xfe && b[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch { /* not UTF-8 */ }
  const latin = new TextDecoder('windows-1252').decode(bytes);
  let sjis;
  try {
    sjis = new TextDecoder('shift_jis', { fatal: true }).decode(bytes);
  } catch {
    return latin;
  }
  const against = 3 * count(sjis, NOT_JAPANESE) + 2 * count(sjis, INSIDE_A_WORD);
  const japanese = count(sjis, JAPANESE);
  return japanese > against || (japanese === against && lang === 'ja') ? sjis : latin;
}

/**
 * Hand `file`'s text to `send`, or say why not.
 * @param {File} file
 * @param {(text: string) => void} send
 * @param {string} [lang] the page's language (a tie between two encodings)
 * @returns {Promise<Array|null>} the problem ([i18n key, its values]), or null when sent
 */
export async function readCsv(file, send, lang = 'en') {
  if (file.size > MAX_CSV_BYTES) {
    return ['csv.tooLarge', { name: file.name, kb: Math.ceil(file.size / 1000), limit: MAX_CSV_BYTES / 1000 }];
  }
  send(decodeCsv(await file.arrayBuffer(), lang));
  return null;
}
