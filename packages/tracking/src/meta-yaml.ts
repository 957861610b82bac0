import { Document, parseDocument, Scalar, visit } from 'yaml';

/**
 * meta.yaml as MLflow writes it: mlflow/utils/file_utils.py write_yaml → yaml.dump(data,
 * default_flow_style=False, allow_unicode=True, sort_keys=True, Dumper=SafeDumper). PyYAML speaks
 * YAML 1.1, so strings that 1.1 would read as something else ('0', '1e3', 'yes', '') are quoted,
 * single quotes as PyYAML uses. PyYAML folds long strings at 80 columns; we don't (same value).
 */
/** Tabs, C0/C1 controls (but newline), NEL, LS/PS, BOM. */
function needsDoubleQuotes(s: string): boolean {
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if ((c < 0x20 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || c === 0xfeff)
      return true;
  }
  return false;
}

export function dumpMeta(obj: Record<string, unknown>): string {
  const sorted = Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, obj[k]]),
  );
  const doc = new Document(sorted, { version: '1.1' });
  visit(doc, {
    Scalar(_key, node: Scalar) {
      if (typeof node.value !== 'string') return;
      // PyYAML double-quotes what is not printable in a plain scalar (tabs, C0/C1 controls, NEL, LS/PS)
      if (needsDoubleQuotes(node.value)) node.type = Scalar.QUOTE_DOUBLE;
      // YAML 1.1 value / merge indicators: PyYAML quotes them
      else if (node.value === '=' || node.value === '<<') node.type = Scalar.QUOTE_SINGLE;
    },
  });
  return (
    doc
      .toString({ singleQuote: true, lineWidth: 0, minContentWidth: 0, nullStr: 'null' })
      .replace(/^(\s*[^\s:]+): <<$/gm, "$1: '<<'")
      // only double-quoted scalars can hold these (see above): escape them as PyYAML does
      .replace(/[\x7f-\x9f\u2028\u2029\ufeff]/g, (c) =>
        c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16)}` : `\\u${c.charCodeAt(0).toString(16)}`,
      )
  );
}

/**
 * Read a meta.yaml written by MLflow (PyYAML, YAML 1.1) or by us. Plain scalars that PyYAML reads as
 * strings but a YAML 1.2 reader would not (`run_uuid: 1e10`) keep their source text.
 */
export function loadMeta(text: string): Record<string, unknown> {
  const doc = parseDocument(text, { version: '1.1' });
  if (doc.errors.length) throw new Error(doc.errors[0].message);
  visit(doc, {
    Scalar(_key, node: Scalar) {
      if (
        node.type === Scalar.PLAIN &&
        typeof node.value === 'number' &&
        node.source &&
        !/^[-+]?(0|[1-9][0-9_]*)$/.test(node.source) &&
        !/\./.test(node.source)
      ) {
        node.value = node.source; // PyYAML's 1.1 float needs a dot: 1e10 is the string '1e10'
      }
    },
  });
  const out = doc.toJS() as unknown;
  if (out === null || out === undefined) return {};
  if (typeof out !== 'object' || Array.isArray(out)) throw new Error('meta.yaml is not a mapping');
  return out as Record<string, unknown>;
}
