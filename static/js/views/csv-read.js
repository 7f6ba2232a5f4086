/**
 * A learner's CSV file read for sending (views/csv-picker.js loads this with the first
 * file picked or dropped): refused here when it is too large for one message, and
 * decoded in the encoding it was saved in.
 */

/** Bytes a CSV may have: a message must fit the server's max_message_bytes (64 KB by default). */
export const MAX_CSV_BYTES = 60_000;

/**
 * A file's text: UTF-8 (a BOM dropped), else Shift_JIS (what Japanese Excel saves as
 * "CSV"), else Windows-1252 (a European spreadsheet's), the first that reads it whole.
 * @param {ArrayBuffer} bytes
 * @returns {string}
 */
export function decodeCsv(bytes) {
  for (const label of ['utf-8', 'shift_jis']) {
    try {
      return new TextDecoder(label, { fatal: true }).decode(bytes);
    } catch { /* not this encoding */ }
  }
  return new TextDecoder('windows-1252').decode(bytes);
}

/**
 * Hand `file`'s text to `send`, or say why not.
 * @param {File} file
 * @param {(text: string) => void} send
 * @returns {Promise<Array|null>} the problem ([i18n key, its values]), or null when sent
 */
export async function readCsv(file, send) {
  if (file.size > MAX_CSV_BYTES) {
    return ['csv.tooLarge', { name: file.name, kb: Math.ceil(file.size / 1000), limit: MAX_CSV_BYTES / 1000 }];
  }
  send(decodeCsv(await file.arrayBuffer()));
  return null;
}
