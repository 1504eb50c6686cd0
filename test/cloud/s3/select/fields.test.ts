/**
 * The top-level fields a query can read (select/sql/fields.ts), which decide the Parquet columns
 * decoded: every column a path may start with, all of them when whole records can be seen.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery } from '../../../../src/cloud/s3/select/sql/parser.ts';
import { matchingColumns, topLevelFields } from '../../../../src/cloud/s3/select/sql/fields.ts';

const COLUMNS = ['id', 'Name', 'name', 'score', 'city', 'nested'];

function columns(sql: string): string[] | 'all' {
  const names = topLevelFields(parseQuery(sql));
  return names === undefined ? 'all' : matchingColumns(names, COLUMNS);
}

describe('S3 Select: fields a query reads', () => {
  test('the columns named in SELECT and WHERE, through the alias or bare, case-insensitively unless quoted', () => {
    assert.deepEqual(columns("SELECT COUNT(*) FROM S3Object s WHERE s.score > 90 AND s.city = 'Kyiv'"), ['score', 'city']);
    assert.deepEqual(columns('SELECT s.id, UPPER(s."name") FROM S3Object s'), ['id', 'name']);
    assert.deepEqual(columns('SELECT s.NAME FROM S3Object s'), ['Name', 'name']);
    assert.deepEqual(columns('SELECT id FROM S3Object WHERE score > 1'), ['id', 'score']);
    assert.deepEqual(columns('SELECT S3Object.city FROM S3Object'), ['city']);
    assert.deepEqual(columns('SELECT s.nested.a[0] FROM S3Object s WHERE CAST(s.id AS INT) IN (1, 2)'), ['id', 'nested']);
    assert.deepEqual(columns('SELECT COUNT(*) FROM S3Object'), []);
  });

  test('whole records: *, alias.*, the bare alias, an index on the row, a FROM path starting with an index', () => {
    for (const sql of ['SELECT * FROM S3Object', 'SELECT s.* FROM S3Object s', 'SELECT s FROM S3Object s', 'SELECT s[0] FROM S3Object s', 'SELECT _1 FROM S3Object', 'SELECT x FROM S3Object[*][0] x']) {
      assert.equal(columns(sql), 'all', sql);
    }
    assert.deepEqual(columns('SELECT x.a FROM S3Object[*].nested[*] x'), ['nested'], 'a FROM path: its first name');
  });
});
