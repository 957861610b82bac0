import type { SplitRows } from '@nerflow/core';
import { Field, FixedSizeList, Int32, Int8, makeData, RecordBatch, Schema, Struct, Table, tableToIPC } from 'apache-arrow';


/** One record batch, Arrow IPC file format; tokens/tags as FixedSizeList so readers get a flat view. */
export function splitToIpc(rows: SplitRows, metadata: Record<string, string>): Uint8Array {
  const { n, maxLen } = rows;
  const int32 = (data: Int32Array) => makeData({ type: new Int32(), length: data.length, nullCount: 0, data });
  const tokType = new FixedSizeList(maxLen, new Field('item', new Int32(), false));
  const tagType = new FixedSizeList(maxLen, new Field('item', new Int8(), false));
  const fields = [
    new Field('sentence_id', new Int32(), false),
    new Field('chunk', new Int32(), false),
    new Field('length', new Int32(), false),
    new Field('tokens', tokType, false),
    new Field('tags', tagType, false),
  ];
  const children = [
    int32(rows.sentenceIds),
    int32(rows.chunks),
    int32(rows.lengths),
    makeData({ type: tokType, length: n, nullCount: 0, child: int32(rows.tokens) }),
    makeData({ type: tagType, length: n, nullCount: 0, child: makeData({ type: new Int8(), length: rows.tags.length, nullCount: 0, data: rows.tags }) }),
  ];
  const schema = new Schema(fields, new Map(Object.entries(metadata)));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children }));
  return tableToIPC(new Table(schema, [batch]), 'file');
}
