/** Test helper: feeds a record reader (CSV or JSON) its input in pieces and collects the records. */

/** What the S3 Select record readers have in common. */
export interface PushReader<R> {
  push(chunk: Buffer, onRecord: (record: R) => void): void;
  end(onRecord: (record: R) => void): void;
}

/** Feeds `input` to `reader` cut at `cuts` (byte offsets), then ends it; returns every record. */
export function feed<R>(reader: PushReader<R>, input: string | Buffer, cuts: readonly number[] = []): R[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const records: R[] = [];
  const onRecord = (record: R): void => {
    records.push(record);
  };
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    reader.push(bytes.subarray(from, cut), onRecord);
    from = cut;
  }
  reader.end(onRecord);
  return records;
}
