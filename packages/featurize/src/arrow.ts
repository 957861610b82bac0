import type { SplitRows } from '@nerflow/core';
import {
  Data,
  Field,
  FixedSizeList,
  Int32,
  Int8,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Uint16,
  Uint8,
} from 'apache-arrow';
import type { SplitChars } from './chars.js';

/** A split's rows as featurize packs them: the Arrow columns plus where each row starts in the corpus. */
export interface PackedRows extends SplitRows {
  /** Each row's first token in the (sentence_id, position) order of the whole corpus (not written). */
  tokenStart: Int32Array;
}

/** One record batch, Arrow IPC file format; tokens/tags as FixedSizeList so readers get a flat view. */
export function splitToIpc(rows: SplitRows, metadata: Record<string, string>, chars?: SplitChars): Uint8Array {
  const { n, maxLen } = rows;
  const int32 = (data: Int32Array) => makeData({ type: new Int32(), length: data.length, nullCount: 0, data });
  const tokType = new FixedSizeList(maxLen, new Field('item', new Int32(), false));
  const tagType = new FixedSizeList(maxLen, new Field('item', new Int8(), false));
  const fields: Field[] = [
    new Field('sentence_id', new Int32(), false),
    new Field('chunk', new Int32(), false),
    new Field('length', new Int32(), false),
    new Field('tokens', tokType, false),
    new Field('tags', tagType, false),
  ];
  const children: Data[] = [
    int32(rows.sentenceIds),
    int32(rows.chunks),
    int32(rows.lengths),
    makeData({ type: tokType, length: n, nullCount: 0, child: int32(rows.tokens) }),
    makeData({
      type: tagType,
      length: n,
      nullCount: 0,
      child: makeData({ type: new Int8(), length: rows.tags.length, nullCount: 0, data: rows.tags }),
    }),
  ];
  if (chars) {
    // chars: List<List<Uint8 | Uint16>>, row → its tokens → their character ids (no padding inside)
    const idType = chars.ids instanceof Uint8Array ? new Uint8() : new Uint16();
    const charList = new List(new Field('item', idType, false));
    const rowList = new List(new Field('item', charList, false));
    fields.push(new Field('chars', rowList, false));
    const ids = makeData({ type: idType, length: chars.ids.length, nullCount: 0, data: chars.ids });
    const perToken = makeData({
      type: charList,
      length: chars.tokenOffsets.length - 1,
      nullCount: 0,
      valueOffsets: chars.tokenOffsets,
      child: ids,
    });
    children.push(
      makeData({ type: rowList, length: n, nullCount: 0, valueOffsets: chars.rowOffsets, child: perToken }),
    );
  }
  const schema = new Schema(fields, new Map(Object.entries(metadata)));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children }));
  return tableToIPC(new Table(schema, [batch]), 'file');
}
