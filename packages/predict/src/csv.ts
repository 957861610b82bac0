/**
 * CSV as MLflow's scoring server reads it (`Content-Type: text/csv`: pandas.read_csv, a header row):
 * RFC 4180 — fields separated by commas, rows by LF or CRLF; a field in double quotes may hold commas,
 * line breaks and doubled quotes (`""`). Blank lines are skipped (as pandas does).
 */
export class CsvError extends Error {}

/** Rows of a CSV text, each a list of fields; a quote left open or stray text after a closing quote is an error naming the line. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let rowLine = 1;
  let quoted = false; // inside a quoted field
  let wasQuoted = false; // the current field was quoted (only a separator may follow its closing quote)
  const endRow = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0] !== '' || wasQuoted) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
    wasQuoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === ',') {
      fields.push(field);
      field = '';
      wasQuoted = false;
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      endRow();
      line++;
      rowLine = line;
    } else if (c === '"' && field === '' && !wasQuoted) {
      quoted = true;
      wasQuoted = true;
    } else if (wasQuoted) {
      throw new CsvError(`CSV line ${line}: text after a closing quote (write a quote inside a quoted field as "")`);
    } else field += c;
  }
  if (quoted) throw new CsvError(`CSV line ${rowLine}: a quoted field is never closed`);
  if (field !== '' || fields.length || wasQuoted) endRow();
  return rows;
}

/**
 * The texts of a CSV body: the header's `text` column, else its first column (as a one-column CSV of
 * sentences). Every row must have as many fields as the header.
 */
export function csvTexts(text: string): string[] {
  const rows = parseCsv(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text); // a BOM (spreadsheet exports)
  if (!rows.length) throw new CsvError('the CSV body is empty: send a header row (e.g. text) and one row per text');
  const [header, ...data] = rows;
  const names = header.fields.map((f) => f.trim());
  const at = Math.max(0, names.indexOf('text'));
  if (!data.length)
    throw new CsvError(`the CSV body has a header (${names.join(',')}) but no rows: send one row per text`);
  return data.map((r) => {
    if (r.fields.length !== names.length)
      throw new CsvError(
        `CSV line ${r.line}: ${r.fields.length} field(s), but the header has ${names.length} (${names.join(',')}); quote a text that holds commas`,
      );
    return r.fields[at];
  });
}
