import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileQuery, type CompiledQuery, type QueryOptions } from '../../../../src/cloud/s3/select/sql/index.ts';
import { SelectError, SELECT_ERRORS, type SelectErrorCode } from '../../../../src/cloud/s3/protocol/select-errors.ts';
import { numericString } from '../../../../src/cloud/s3/select/sql/ops.ts';
import { TIMESTAMP, formatTimestamp, isTimestamp, type JsonValue, type OutputRow, type SqlValue } from '../../../../src/cloud/s3/select/values.ts';

const NOW = Date.UTC(2021, 5, 15, 10, 20, 30, 456);

type Input = 'csv' | 'json';
type Options = { columnNames?: readonly string[]; now?: () => number };

function compile(sql: string, input: Input = 'csv', opts: Options = {}): CompiledQuery {
  const options: QueryOptions = { input, now: opts.now ?? (() => NOW) };
  if (opts.columnNames !== undefined) options.columnNames = opts.columnNames;
  return compileQuery(sql, options);
}

/** Runs a query over records and returns the raw output rows (finish() included). */
function rows(sql: string, input: Input, records: readonly (readonly string[] | JsonValue)[], opts: Options = {}): OutputRow[] {
  const q = compile(sql, input, opts);
  const out: OutputRow[] = [];
  for (const r of records) {
    q.process(input === 'csv' ? { kind: 'csv', fields: r as string[] } : { kind: 'json', value: r as JsonValue }, (row) => out.push(row));
  }
  q.finish((row) => out.push(row));
  return out;
}

/** Timestamps printed, everything else as is. */
function show(v: SqlValue): SqlValue {
  return isTimestamp(v) ? formatTimestamp(v) : v;
}

/** Rows as objects: name → value (a MISSING value is a present key holding undefined). */
function objects(sql: string, input: Input, records: readonly (readonly string[] | JsonValue)[], opts: Options = {}): Record<string, SqlValue>[] {
  return rows(sql, input, records, opts).map((r) => Object.fromEntries(r.names.map((n, i) => [n, show(r.values[i])])));
}

/** The values of the first row. */
function values(sql: string, input: Input = 'json', records: readonly (readonly string[] | JsonValue)[] = [{}], opts: Options = {}): SqlValue[] {
  const r = rows(sql, input, records, opts);
  assert.ok(r.length > 0, `no row for ${sql}`);
  return r[0]!.values.map(show);
}

/** One scalar expression evaluated over one empty JSON record. */
function evaluate(expr: string, record: JsonValue = {}): SqlValue {
  return values(`SELECT ${expr} FROM S3Object s`, 'json', [record])[0];
}

/** The SelectError code `fn` throws. */
function errorCode(fn: () => unknown): SelectErrorCode {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SelectError, `expected a SelectError, got ${String(e)}`);
    assert.equal(e.status, SELECT_ERRORS[e.code].status);
    return e.code;
  }
  assert.fail('expected an error');
}

const PEOPLE = [
  ['alice', '30', 'NY'],
  ['bob', '25', 'LA'],
  ['carol', '35', 'NY'],
  ['dave', '', 'SF'],
];
const HEADER = ['Name', 'Age', 'City'];

describe('S3 Select SQL: syntax errors', () => {
  const cases: [string, SelectErrorCode][] = [
    ['SELECT * FROM S3Object WHERE a ? b', 'LexerInvalidChar'],
    ["SELECT 'abc FROM S3Object", 'LexerInvalidLiteral'],
    ['SELECT 12abc FROM S3Object', 'LexerInvalidLiteral'],
    ['SELECT 1e FROM S3Object', 'LexerInvalidLiteral'],
    ['SELECT * FROM S3Object WHERE _1 ! _2', 'LexerInvalidOperator'],
    ['SELECT * FROM S3Object WHERE _1 | _2', 'LexerInvalidOperator'],
    ['SELECT `2007-13T` FROM S3Object', 'LexerInvalidIONLiteral'],
    ['SELECT `2007T FROM S3Object', 'LexerInvalidIONLiteral'],
    ['SELECT _1', 'ParseSelectMissingFrom'],
    ['SELECT FROM S3Object', 'ParseEmptySelect'],
    ['SELECT *, _1 FROM S3Object', 'ParseAsteriskIsNotAloneInSelectList'],
    ['SELECT _1, * FROM S3Object', 'ParseAsteriskIsNotAloneInSelectList'],
    ['SELECT * FROM S3Object WHERE', 'ParseExpectedExpression'],
    ['SELECT _1, FROM S3Object', 'ParseUnExpectedKeyword'],
    ['SELECT * FROM S3Object WHERE _1 = = 2', 'ParseUnexpectedOperator'],
    ['SELECT * FROM S3Object WHERE _1 XOR _2', 'ParseUnknownOperator'],
    ['SELECT * FROM S3Object s extra', 'ParseUnexpectedToken'],
    ["SELECT _1 'x' FROM S3Object", 'ParseUnexpectedTerm'],
    ['SELECT _1 AS FROM S3Object', 'ParseExpectedIdentForAlias'],
    ['SELECT * FROM S3Object AS', 'ParseExpectedIdentForAlias'],
    ['SELECT CAST(_1 AS WIBBLE) FROM S3Object', 'ParseExpectedTypeName'],
    ['SELECT CAST(_1 AS DATE) FROM S3Object', 'InvalidDataType'],
    ['SELECT CAST(_1, INT) FROM S3Object', 'ParseCastArity'],
    ['SELECT CAST _1 AS INT FROM S3Object', 'ParseExpectedLeftParenAfterCast'],
    ['SELECT CAST(_1 INT) FROM S3Object', 'ParseExpectedKeyword'],
    ['SELECT CAST(_1 AS DECIMAL(a)) FROM S3Object', 'ParseInvalidTypeParam'],
    ['SELECT CAST(_1 AS INT(3)) FROM S3Object', 'ParseInvalidTypeParam'],
    ['SELECT CASE WHEN _1 = 1 THEN 2 FROM S3Object', 'ParseExpectedKeyword'],
    ['SELECT CASE _1 ELSE 2 END FROM S3Object', 'ParseExpectedWhenClause'],
    ['SELECT * FROM S3Object WHERE _1 BETWEEN 1 OR 2', 'ParseExpectedKeyword'],
    ['SELECT * FROM S3Object WHERE _1 IS 3', 'ParseExpectedKeyword'],
    ['SELECT * FROM S3Object WHERE _1 IN 1, 2', 'ParseExpectedTokenType'],
    ['SELECT (_1 FROM S3Object', 'ParseExpectedTokenType'],
    ['SELECT LOWER(_1 _2) FROM S3Object', 'ParseExpectedRightParenBuiltinFunctionCall'],
    ['SELECT LOWER FROM S3Object', 'ParseExpectedLeftParenBuiltinFunctionCall'],
    ['SELECT DATE_ADD(year 1, `2010T`) FROM S3Object', 'ParseExpectedArgumentDelimiter'],
    ['SELECT EXTRACT(week FROM `2010T`) FROM S3Object', 'ParseExpectedDatePart'],
    ['SELECT DATE_ADD(timezone_hour, 1, `2010T`) FROM S3Object', 'ParseExpectedDatePart'],
    ['SELECT * FROM S3Object LIMIT x', 'ParseExpectedNumber'],
    ['SELECT * FROM S3Object LIMIT 1.5', 'ParseExpectedNumber'],
    ['SELECT * FROM S3Object LIMIT -1', 'EvaluatorNegativeLimit'],
    ['SELECT SUM(*) FROM S3Object', 'ParseUnsupportedCallWithStar'],
    ['SELECT LOWER(*) FROM S3Object', 'ParseUnsupportedCallWithStar'],
    ['SELECT COUNT(_1, _2) FROM S3Object', 'ParseNonUnaryAgregateFunctionCall'],
    ['SELECT COUNT(DISTINCT _1) FROM S3Object', 'ParseUnsupportedSyntax'],
    ['SELECT DISTINCT _1 FROM S3Object', 'ParseUnsupportedSyntax'],
    ['SELECT * FROM S3Object ORDER BY _1', 'ParseUnsupportedSyntax'],
    ['DELETE FROM S3Object', 'ParseUnsupportedSyntax'],
    ['SELECT * FROM S3Object GROUP BY _1', 'ParseExpectedIdentForGroupName'],
    ['SELECT * FROM S3Object a, S3Object b', 'ParseMalformedJoin'],
    ['SELECT * FROM S3Object a JOIN S3Object b', 'ParseMalformedJoin'],
    ['SELECT * FROM S3Object WHERE _1 IN (SELECT _1 FROM S3Object)', 'ParseUnsupportedSelect'],
    ['SELECT s.CAST FROM S3Object s', 'ParseInvalidPathComponent'],
    ['SELECT s.1 FROM S3Object s', 'ParseInvalidPathComponent'],
    ['SELECT * FROM S3Object[*].a.1', 'ParseInvalidPathComponent'],
    ['SELECT date FROM S3Object', 'ParseUnExpectedKeyword'],
    ['SELECT s.a[*] FROM S3Object s', 'ParseCannotMixSqbAndWildcardInSelectList'],
    ['SELECT s.a.* FROM S3Object s', 'ParseInvalidContextForWildcardInSelectList'],
    ['SELECT POSITION(_1) FROM S3Object', 'UnsupportedFunction'],
    ['SELECT ABS(_1) FROM S3Object', 'UnsupportedFunction'],
    ['SELECT LOWER(_1, _2) FROM S3Object', 'EvaluatorInvalidArguments'],
    ['SELECT UTCNOW(1) FROM S3Object', 'EvaluatorInvalidArguments'],
    ['SELECT COALESCE() FROM S3Object', 'EvaluatorInvalidArguments'],
    ['SELECT * FROM Bucket', 'UnsupportedSqlStructure'],
  ];
  for (const [sql, code] of cases) {
    test(`${code}: ${sql}`, () => {
      assert.equal(
        errorCode(() => compile(sql)),
        code,
      );
    });
  }

  test('more than 256 KiB of expression is ExpressionTooLong; 256 KiB is accepted', () => {
    const base = 'SELECT * FROM S3Object WHERE _1 = ';
    const fits = `${base}'${'x'.repeat(256 * 1024 - base.length - 2)}'`;
    assert.equal(Buffer.byteLength(fits), 256 * 1024);
    compile(fits);
    assert.equal(
      errorCode(() => compile(`${fits} `)),
      'ExpressionTooLong',
    );
    // Bytes, not characters: 'é' is two bytes of UTF-8.
    assert.equal(
      errorCode(() => compile(`${base}'${'é'.repeat(140 * 1024)}'`)),
      'ExpressionTooLong',
    );
  });

  test('nesting deeper than the parser allows is MaxOperatorsExceeded, not a stack overflow', () => {
    assert.equal(
      errorCode(() => compile(`SELECT ${'('.repeat(5000)}1${')'.repeat(5000)} FROM S3Object`)),
      'MaxOperatorsExceeded',
    );
    assert.equal(
      errorCode(() => compile(`SELECT ${'- '.repeat(5000)}1 FROM S3Object`)),
      'MaxOperatorsExceeded',
    );
  });

  test('keywords are case-insensitive; comments, newlines and a trailing semicolon are accepted', () => {
    const sql = "select s._1 -- the name\n from s3object AS s /* all */ where s._3 = 'NY' limit 5;";
    assert.deepEqual(objects(sql, 'csv', PEOPLE), [{ _1: 'alice' }, { _1: 'carol' }]);
  });

  test('a long OR chain compiles (flattened, not nested)', () => {
    const sql = `SELECT _1 FROM S3Object WHERE ${Array.from({ length: 3000 }, (_, i) => `_2 = '${i}'`).join(' OR ')}`;
    assert.deepEqual(objects(sql, 'csv', PEOPLE), [{ _1: 'alice' }, { _1: 'bob' }, { _1: 'carol' }]);
  });
});

describe('S3 Select SQL: CSV records', () => {
  test('SELECT * returns the fields, named _1, _2, … without a header', () => {
    const r = rows('SELECT * FROM S3Object', 'csv', PEOPLE.slice(0, 1));
    assert.deepEqual(r, [{ names: ['_1', '_2', '_3'], values: ['alice', '30', 'NY'] }]);
  });

  test('SELECT * uses the header names with FileHeaderInfo=USE (positions past the header as _N)', () => {
    const r = rows('SELECT * FROM S3Object', 'csv', [['alice', '30', 'NY', 'extra']], { columnNames: HEADER });
    assert.deepEqual(r, [{ names: ['Name', 'Age', 'City', '_4'], values: ['alice', '30', 'NY', 'extra'] }]);
  });

  test('positional references: _N, alias._N, S3Object._N without an alias', () => {
    assert.deepEqual(objects('SELECT _3, s._1 FROM S3Object s', 'csv', PEOPLE.slice(0, 1)), [{ _3: 'NY', _1: 'alice' }]);
    assert.deepEqual(objects('SELECT S3Object._2 FROM S3Object', 'csv', PEOPLE.slice(0, 1)), [{ _2: '30' }]);
  });

  test('a position past the end of the record is MISSING', () => {
    const r = rows('SELECT _1, _9 FROM S3Object', 'csv', [['a']]);
    assert.deepEqual(r[0]!.values, ['a', undefined]);
    assert.deepEqual(objects('SELECT _1 FROM S3Object WHERE _9 IS MISSING', 'csv', [['a']]), [{ _1: 'a' }]);
  });

  test('_0 is InvalidColumnIndex', () => {
    assert.equal(
      errorCode(() => compile('SELECT _0 FROM S3Object')),
      'InvalidColumnIndex',
    );
  });

  test('header names match case-insensitively unless double-quoted', () => {
    const opts = { columnNames: HEADER };
    assert.deepEqual(objects("SELECT name, s.AGE FROM S3Object s WHERE city = 'LA'", 'csv', PEOPLE, opts), [{ name: 'bob', AGE: '25' }]);
    assert.deepEqual(objects('SELECT s."Name" FROM S3Object s LIMIT 1', 'csv', PEOPLE, opts), [{ Name: 'alice' }]);
    // A quoted name that differs in case is not a column of the file.
    const q = compile('SELECT s."name" FROM S3Object s', 'csv', opts);
    assert.equal(
      errorCode(() => q.process({ kind: 'csv', fields: PEOPLE[0]! }, () => {})),
      'MissingHeaders',
    );
  });

  test('a name matching several header columns is AmbiguousFieldName; quoting picks one', () => {
    const opts = { columnNames: ['NAME', 'name'] };
    const q = compile('SELECT s.name FROM S3Object s', 'csv', opts);
    assert.equal(
      errorCode(() => q.process({ kind: 'csv', fields: ['A', 'b'] }, () => {})),
      'AmbiguousFieldName',
    );
    assert.deepEqual(objects('SELECT s."NAME" FROM S3Object s', 'csv', [['A', 'b']], opts), [{ NAME: 'A' }]);
  });

  test('header names with spaces or reserved words need double quotes', () => {
    const opts = { columnNames: ['Full Name', 'date'] };
    assert.deepEqual(objects('SELECT s."Full Name", "date" FROM S3Object s', 'csv', [['Ann Lee', '2020']], opts), [{ 'Full Name': 'Ann Lee', date: '2020' }]);
    assert.equal(
      errorCode(() => compile('SELECT s.date FROM S3Object s', 'csv', opts)),
      'ParseInvalidPathComponent',
    );
  });

  test('a name without header names is MissingHeaders when evaluated (and a query over no records succeeds)', () => {
    const q = compile('SELECT name FROM S3Object', 'csv');
    q.finish(() => assert.fail('no aggregate row'));
    assert.equal(
      errorCode(() => q.process({ kind: 'csv', fields: ['x'] }, () => {})),
      'MissingHeaders',
    );
  });

  test('a qualifier that is not the alias is InvalidTableAlias; deeper paths are InvalidKeyPath', () => {
    assert.equal(
      errorCode(() => compile('SELECT t._1 FROM S3Object s')),
      'InvalidTableAlias',
    );
    assert.equal(
      errorCode(() => compile('SELECT x.* FROM S3Object s')),
      'InvalidTableAlias',
    );
    assert.equal(
      errorCode(() => compile('SELECT s._1.a FROM S3Object s')),
      'InvalidKeyPath',
    );
    assert.equal(
      errorCode(() => compile('SELECT s._1[0] FROM S3Object s')),
      'InvalidKeyPath',
    );
    assert.equal(
      errorCode(() => compile('SELECT * FROM S3Object[*].a')),
      'InvalidKeyPath',
    );
  });

  test('output names: the alias (AS or bare), else the column as written, else _N by position', () => {
    const r = rows("SELECT _1 AS who, _2 years, s._3, UPPER(_1), 'x' FROM S3Object s", 'csv', PEOPLE.slice(0, 1));
    assert.deepEqual(r[0]!.names, ['who', 'years', '_3', '_4', '_5']);
    const h = rows('SELECT s.name, "Age" FROM S3Object s', 'csv', PEOPLE.slice(0, 1), { columnNames: HEADER });
    assert.deepEqual(h[0]!.names, ['name', 'Age']);
  });

  test('a field that reads as a number compares and computes as one against a number', () => {
    assert.deepEqual(objects('SELECT _1 FROM S3Object WHERE _2 > 26', 'csv', PEOPLE), [{ _1: 'alice' }, { _1: 'carol' }]);
    assert.deepEqual(objects('SELECT _1 FROM S3Object WHERE _2 = 25.0', 'csv', PEOPLE), [{ _1: 'bob' }]);
    assert.deepEqual(objects('SELECT _2 + 1 AS n FROM S3Object LIMIT 1', 'csv', PEOPLE), [{ n: 31 }]);
    assert.deepEqual(objects('SELECT _2 * 2 AS n FROM S3Object WHERE _2 BETWEEN 26 AND 40', 'csv', PEOPLE), [{ n: 60 }, { n: 70 }]);
    assert.deepEqual(objects('SELECT _1 FROM S3Object WHERE _2 IN (25, 35)', 'csv', PEOPLE), [{ _1: 'bob' }, { _1: 'carol' }]);
    // An empty field is not a number: no order against one, an error in arithmetic.
    assert.deepEqual(objects('SELECT _1 FROM S3Object WHERE _2 < 100 OR _2 >= 100', 'csv', PEOPLE), [{ _1: 'alice' }, { _1: 'bob' }, { _1: 'carol' }]);
    assert.equal(
      errorCode(() => rows('SELECT _2 + 1 FROM S3Object', 'csv', PEOPLE)),
      'IncorrectSqlFunctionArgumentType',
    );
  });

  test('fields compare as text against text', () => {
    assert.deepEqual(objects("SELECT _1 FROM S3Object WHERE _2 > '3'", 'csv', PEOPLE), [{ _1: 'alice' }, { _1: 'carol' }]);
    assert.deepEqual(objects("SELECT _1 FROM S3Object WHERE _1 < 'bz'", 'csv', PEOPLE), [{ _1: 'alice' }, { _1: 'bob' }]);
  });

  test("fields read as booleans and timestamps where they meet one; typed strings do not", () => {
    const recs = [['true', '2020-01-01T'], ['FALSE', '2021-06-01T00:00Z']];
    assert.deepEqual(objects('SELECT _1 FROM S3Object WHERE _1 = true', 'csv', recs), [{ _1: 'true' }]);
    assert.deepEqual(objects('SELECT _1 FROM S3Object WHERE _2 > `2020-06-01T`', 'csv', recs), [{ _1: 'FALSE' }]);
    assert.deepEqual(values('SELECT EXTRACT(YEAR FROM _2) FROM S3Object', 'csv', recs), [2020]);
    // Literals keep their types: 1 and '1' are different values (AWS: NULLIF(1, '1') is 1).
    assert.deepEqual(evaluate("1 = '1'"), false);
    assert.deepEqual(evaluate("1 <> '1'"), true);
    assert.deepEqual(evaluate("1 < '2'"), null);
    assert.equal(
      errorCode(() => evaluate("'1' + 1")),
      'IncorrectSqlFunctionArgumentType',
    );
  });
});

describe('S3 Select SQL: JSON records', () => {
  const susan = {
    name: 'Susan Smith',
    org: 'engineering',
    projects: [
      { project_name: 'project1', completed: false },
      { project_name: 'project2', completed: true },
    ],
  };

  test("AWS's attribute access examples", () => {
    assert.deepEqual(objects('Select s.name from S3Object s', 'json', [susan]), [{ name: 'Susan Smith' }]);
    assert.deepEqual(objects('Select s.projects[0].project_name from S3Object s', 'json', [susan]), [{ project_name: 'project1' }]);
    assert.deepEqual(values('SELECT s.projects[1].completed, s.projects[1]."project_name", s.projects[2] FROM S3Object s', 'json', [susan]), [true, 'project2', undefined]);
    assert.deepEqual(values("SELECT s['org'], s.projects[0]['completed'] FROM S3Object s", 'json', [susan]), ['engineering', false]);
  });

  test('nested paths, unqualified names, and a missing path is MISSING while null stays NULL', () => {
    const rec = { a: { b: { c: 1 } }, n: null, arr: [10, [20, 30]] };
    const r = rows('SELECT s.a.b.c, a.b, s.n, s.x, s.a.x.y, s.arr[1][0], s.arr[5], s.n.z FROM S3Object s', 'json', [rec]);
    assert.deepEqual(r[0]!.names, ['c', 'b', 'n', 'x', 'y', '_6', '_7', 'z']);
    assert.deepEqual(r[0]!.values, [1, { c: 1 }, null, undefined, undefined, 20, undefined, undefined]);
    assert.deepEqual(values('SELECT s.n IS NULL, s.n IS MISSING, s.x IS NULL, s.x IS MISSING, s.a IS NOT MISSING FROM S3Object s', 'json', [rec]), [true, false, true, true, true]);
  });

  test('attribute names match case-insensitively unless quoted; several matches are AmbiguousFieldName', () => {
    assert.deepEqual(values('SELECT s.NAME, s."name", s."NAME" FROM S3Object s', 'json', [{ Name: 'x' }]), ['x', undefined, undefined]);
    const q = compile('SELECT s.name FROM S3Object s', 'json');
    assert.equal(
      errorCode(() => q.process({ kind: 'json', value: { NAME: 1, name: 2 } }, () => {})),
      'AmbiguousFieldName',
    );
    assert.deepEqual(values('SELECT s."NAME" FROM S3Object s', 'json', [{ NAME: 1, name: 2 }]), [1]);
  });

  test('SELECT * gives the record unchanged (whole) and its members; a scalar row is _1; MISSING is empty', () => {
    const r = rows('SELECT * FROM S3Object', 'json', [{ a: 1, b: [2] }, 5]);
    assert.deepEqual(r[0], { names: ['a', 'b'], values: [1, [2]], whole: { a: 1, b: [2] } });
    assert.deepEqual(r[1], { names: ['_1'], values: [5] });
    const m = rows('SELECT * FROM S3Object[*].x', 'json', [{ y: 1 }]);
    assert.deepEqual(m, [{ names: [], values: [] }]);
  });

  test('alias.* alone is SELECT *; among other items the members are spliced in', () => {
    assert.deepEqual(rows('SELECT s.* FROM S3Object s', 'json', [{ a: 1 }]), [{ names: ['a'], values: [1], whole: { a: 1 } }]);
    assert.deepEqual(rows('SELECT 0 AS z, s.*, s.a AS again FROM S3Object s', 'json', [{ a: 1, b: 2 }]), [{ names: ['z', 'a', 'b', 'again'], values: [0, 1, 2, 1] }]);
    assert.deepEqual(rows('SELECT s.*, _2 AS two FROM S3Object s', 'csv', [['x', 'y']]), [{ names: ['_1', '_2', 'two'], values: ['x', 'y', 'y'] }]);
  });

  describe("FROM paths (AWS's examples)", () => {
    const rules: JsonValue[] = [{ Rules: [{ id: '1' }, { expr: 'y > x' }, { id: '2', expr: 'z = DEBUG' }] }, { created: 'June 27', modified: 'July 6' }];
    test('S3Object[*].Rules[*].id emits MISSING where nothing matches', () => {
      const r = rows('SELECT id FROM S3Object[*].Rules[*].id', 'json', rules);
      assert.deepEqual(
        r.map((x) => x.values),
        [['1'], [undefined], ['2'], [undefined]],
      );
      assert.deepEqual(objects('SELECT id FROM S3Object[*].Rules[*].id WHERE id IS NOT MISSING', 'json', rules), [{ id: '1' }, { id: '2' }]);
    });

    const dirs = [
      { created: '936864000', dir_name: 'important_docs', files: [{ name: '.' }, { name: '..' }, { name: '.aws' }, { name: 'downloads' }], owner: 'Amazon S3' },
      { created: '936864000', dir_name: 'other_docs', files: [{ name: '.' }, { name: '..' }, { name: 'my stuff' }, { name: 'backup' }], owner: 'User' },
    ];
    test('an alias over S3Object[*], and _1 when there is no alias', () => {
      assert.deepEqual(objects('SELECT d.dir_name, d.files FROM S3Object[*] d', 'json', dirs)[1], { dir_name: 'other_docs', files: dirs[1]!.files });
      assert.deepEqual(objects('SELECT _1.dir_name, _1.owner FROM S3Object[*]', 'json', dirs), [
        { dir_name: 'important_docs', owner: 'Amazon S3' },
        { dir_name: 'other_docs', owner: 'User' },
      ]);
      assert.deepEqual(objects('SELECT S3Object.owner FROM S3Object', 'json', dirs.slice(0, 1)), [{ owner: 'Amazon S3' }]);
    });

    test('iterating nested arrays: each element is a row bound to the last name, or to _1 after a wildcard', () => {
      const names = (sql: string): SqlValue[] => rows(sql, 'json', dirs).map((r) => r.values[0]);
      assert.deepEqual(names("SELECT f.name FROM S3Object[*].files[*] f WHERE f.name LIKE '.%'"), ['.', '..', '.aws', '.', '..']);
      assert.deepEqual(names('SELECT _1.name FROM S3Object[*].files[*] LIMIT 3'), ['.', '..', '.aws']);
      assert.deepEqual(names('SELECT name FROM S3Object[*].files[*].name WHERE name > \'c\''), ['downloads', 'my stuff']);
      assert.deepEqual(names("SELECT f FROM S3Object[*].files[*].name f WHERE f = 'backup'"), ['backup']);
      assert.deepEqual(names('SELECT _1 FROM S3Object[*].files[0]'), [{ name: '.' }, { name: '.' }]);
      assert.deepEqual(names("SELECT v FROM S3Object[*]['owner'] v"), ['Amazon S3', 'User']);
      // S3Object without [*] before a path, as the brief allows.
      assert.deepEqual(names('SELECT owner FROM S3Object.owner'), ['Amazon S3', 'User']);
    });

    test('[*] over an empty array, a missing member or a non-array emits one MISSING row; .* iterates members', () => {
      const recs: JsonValue[] = [{ xs: [] }, { ys: 1 }, { xs: 7 }, { xs: [1, 2] }];
      assert.deepEqual(
        rows('SELECT _1 FROM S3Object[*].xs[*]', 'json', recs).map((r) => r.values[0]),
        [undefined, undefined, undefined, 1, 2],
      );
      assert.deepEqual(
        rows('SELECT _1 FROM S3Object[*].o.*', 'json', [{ o: { a: 1, b: 'x' } }, { o: {} }]).map((r) => r.values[0]),
        [1, 'x', undefined],
      );
      assert.deepEqual(
        rows('SELECT x FROM S3Object[*].m[*][*] x', 'json', [{ m: [[1, 2], [3]] }]).map((r) => r.values[0]),
        [1, 2, 3],
      );
    });
  });

  test('JSON strings keep their type: "30" is not the number 30', () => {
    assert.deepEqual(objects('SELECT s.id FROM S3Object s WHERE s.age > 26', 'json', [{ id: 1, age: 30 }, { id: 2, age: '30' }, { id: 3, age: 20 }]), [{ id: 1 }]);
  });

  test('a list literal, and deep equality of structures', () => {
    assert.deepEqual(evaluate('[1, 2 + 1, MISSING]'), [1, 3, null]);
    assert.deepEqual(evaluate('s.a = [1, 2]', { a: [1, 2] }), true);
    assert.deepEqual(evaluate('s.o = s.p', { o: { x: [1] }, p: { x: [1] } }), true);
    assert.deepEqual(evaluate('s.o = s.p', { o: { x: [1] }, p: { x: [2] } }), false);
  });
});

describe('S3 Select SQL: operators', () => {
  test('precedence: * before +, + before comparison, NOT before AND before OR', () => {
    assert.equal(evaluate('1 + 2 * 3'), 7);
    assert.equal(evaluate('(1 + 2) * 3'), 9);
    assert.equal(evaluate('10 - 4 - 3'), 3);
    assert.equal(evaluate('2 * 3 % 4'), 2);
    assert.equal(evaluate('-2 * -3'), 6);
    assert.equal(evaluate('- (1 + 2)'), -3);
    assert.equal(evaluate('1 + 2 = 3'), true);
    assert.equal(evaluate('NOT 1 = 2'), true);
    assert.equal(evaluate('true OR false AND false'), true);
    assert.equal(evaluate('(true OR false) AND false'), false);
    assert.equal(evaluate('NOT false AND false'), false);
    assert.equal(evaluate("'a' || 1 + 2"), 'a3');
    assert.equal(evaluate('1 < 2 = true'), true);
  });

  test('comparison operators on numbers, strings, booleans and timestamps', () => {
    assert.deepEqual(
      ['1 = 1', '1 != 1', '1 <> 2', '1 < 2', '2 > 1', '2 <= 2', '3 >= 4', "'abc' < 'abd'", "'b' > 'abc'", 'false < true', '`2020T` < `2020-01-01T00:00:00.001Z`', '`2020-01-01T01:00+01:00` = `2020-01-01T00:00Z`'].map((e) => evaluate(e)),
      [true, false, true, true, true, true, false, true, true, true, true, true],
    );
  });

  test('integer arithmetic stays integral; division of integers truncates; a decimal makes it real', () => {
    assert.equal(evaluate('7 / 2'), 3);
    assert.equal(evaluate('-7 / 2'), -3);
    assert.equal(evaluate('7.0 / 2'), 3.5);
    assert.equal(evaluate('7 / 2e0'), 3.5);
    assert.equal(evaluate('CAST(7 AS FLOAT) / 2'), 3.5);
    assert.equal(evaluate('CAST(7 AS INT) / 2'), 3);
    assert.equal(evaluate('7 % 3'), 1);
    assert.equal(evaluate('-7 % 3'), -1);
    assert.equal(evaluate('0.5 + 0.25'), 0.75);
    assert.deepEqual(values("SELECT _1 / _2, _3 / _2 FROM S3Object", 'csv', [['7', '2', '7.0']]), [3, 3.5]);
  });

  test('division or modulo by zero is NULL', () => {
    assert.equal(evaluate('1 / 0'), null);
    assert.equal(evaluate('1.5 / 0'), null);
    assert.equal(evaluate('1 % 0'), null);
  });

  test('integer results beyond 8 bytes are IntegerOverflow', () => {
    assert.equal(
      errorCode(() => evaluate('9000000000000000000 + 9000000000000000000')),
      'IntegerOverflow',
    );
    assert.equal(evaluate('9000000000000000000.0 * 10'), 9e19);
  });

  test('|| concatenates text (numbers, booleans and timestamps as they print)', () => {
    assert.equal(evaluate("'a' || 'b' || 'c'"), 'abc');
    assert.equal(evaluate("'n=' || 1.5 || true || `2007T`"), 'n=1.5true2007T');
    assert.equal(
      errorCode(() => evaluate("'a' || s.o", { o: { x: 1 } })),
      'IncorrectSqlFunctionArgumentType',
    );
  });

  test('NULL and MISSING propagate through operators (MISSING first)', () => {
    const r = rows('SELECT 1 + NULL, 1 + MISSING, NULL || MISSING, -s.x, s.x = 1, NULL = NULL, LOWER(NULL), LOWER(s.x) FROM S3Object s', 'json', [{}]);
    assert.deepEqual(r[0]!.values, [null, undefined, undefined, undefined, undefined, null, null, undefined]);
  });

  test('three-valued logic: AND / OR / NOT with unknowns', () => {
    const table: [string, SqlValue][] = [
      ['true AND NULL', null],
      ['false AND NULL', false],
      ['NULL AND false', false],
      ['true OR NULL', true],
      ['false OR NULL', null],
      ['NULL OR true', true],
      ['NOT NULL', null],
      ['NOT MISSING', undefined],
      ['true AND MISSING', undefined],
      ['NULL AND MISSING', undefined],
      ['false OR false', false],
    ];
    for (const [expr, expected] of table) assert.equal(evaluate(expr), expected, expr);
    // WHERE keeps only TRUE rows.
    const recs: JsonValue[] = [{ id: 1, v: true }, { id: 2, v: null }, { id: 3 }, { id: 4, v: false }];
    assert.deepEqual(objects('SELECT s.id FROM S3Object s WHERE s.v', 'json', recs), [{ id: 1 }]);
    assert.deepEqual(objects('SELECT s.id FROM S3Object s WHERE NOT s.v', 'json', recs), [{ id: 4 }]);
    assert.deepEqual(objects('SELECT s.id FROM S3Object s WHERE s.v OR s.id > 2', 'json', recs), [{ id: 1 }, { id: 3 }, { id: 4 }]);
    assert.equal(
      errorCode(() => rows('SELECT * FROM S3Object s WHERE s.id', 'json', recs)),
      'IncorrectSqlFunctionArgumentType',
    );
  });

  test('IS [NOT] NULL / MISSING', () => {
    assert.deepEqual(values('SELECT NULL IS NULL, MISSING IS NULL, NULL IS MISSING, 1 IS NOT NULL, MISSING IS NOT MISSING, 0 IS NULL FROM S3Object'), [true, true, false, true, false, false]);
  });

  test('[NOT] BETWEEN', () => {
    assert.deepEqual(values("SELECT 2 BETWEEN 1 AND 3, 0 BETWEEN 1 AND 3, 3 NOT BETWEEN 1 AND 3, 'b' BETWEEN 'a' AND 'c', 2 BETWEEN NULL AND 1, 2 BETWEEN NULL AND 3, NULL BETWEEN 1 AND 2 FROM S3Object"), [
      true,
      false,
      false,
      true,
      false,
      null,
      null,
    ]);
  });

  test('[NOT] IN with constants, expressions and NULLs', () => {
    assert.deepEqual(values("SELECT 2 IN (1, 2), 'a' IN ('b', 'c'), 2 NOT IN (1, 3), 2 IN (1, NULL), 1 IN (1, NULL), NULL IN (1), 2 NOT IN (1, NULL), s.a IN (s.b, 3) FROM S3Object s", 'json', [{ a: 3, b: 1 }]), [
      true,
      false,
      true,
      null,
      true,
      null,
      null,
      true,
    ]);
    assert.deepEqual(values("SELECT 1 IN ('1'), '1' IN (1) FROM S3Object"), [false, false]);
  });

  test('CASE (searched and simple)', () => {
    const recs = [['New York City', '12624.00'], ['Baltimore', '9996.00'], ['X', '10000']];
    assert.deepEqual(
      rows("SELECT _1, CASE _1 WHEN 'New York City' THEN 'Big Apple' ELSE 'other' END FROM S3Object", 'csv', recs).map((r) => r.values[1]),
      ['Big Apple', 'other', 'other'],
    );
    assert.deepEqual(
      rows("SELECT CASE WHEN CAST(_2 as FLOAT) < 10000 THEN 'group 1' WHEN CAST(_2 as FLOAT) > 10000 THEN 'group 2' ELSE 'group 3' END FROM S3Object", 'csv', recs).map((r) => r.values[0]),
      ['group 2', 'group 1', 'group 3'],
    );
    assert.equal(evaluate('CASE WHEN NULL THEN 1 END'), null);
    assert.equal(evaluate('CASE NULL WHEN NULL THEN 1 ELSE 2 END'), 2);
    assert.equal(evaluate("CASE 2 WHEN 1 THEN 'a' WHEN 2 THEN 'b' END"), 'b');
  });

  test('COALESCE and NULLIF (AWS examples)', () => {
    const coalesce: [string, SqlValue][] = [
      ['COALESCE(1)', 1],
      ['COALESCE(null)', null],
      ['COALESCE(null, null)', null],
      ['COALESCE(missing)', null],
      ['COALESCE(missing, missing)', null],
      ['COALESCE(1, null)', 1],
      ['COALESCE(null, null, 1)', 1],
      ["COALESCE(null, 'string')", 'string'],
      ['COALESCE(missing, 1)', 1],
    ];
    const nullif: [string, SqlValue][] = [
      ['NULLIF(1, 1)', null],
      ['NULLIF(1, 2)', 1],
      ['NULLIF(1.0, 1)', null],
      ["NULLIF(1, '1')", 1],
      ['NULLIF([1], [1])', null],
      ['NULLIF(1, NULL)', 1],
      ['NULLIF(NULL, 1)', null],
      ['NULLIF(null, null)', null],
      ['NULLIF(missing, null)', null],
      ['NULLIF(missing, missing)', null],
    ];
    for (const [expr, expected] of [...coalesce, ...nullif]) assert.deepEqual(evaluate(expr), expected, expr);
  });
});

describe('S3 Select SQL: LIKE', () => {
  test('% and _ match any sequence and any one character, over the whole string, case-sensitively', () => {
    const table: [string, string, boolean][] = [
      ['abc', 'a%', true],
      ['abc', '%c', true],
      ['abc', '%b%', true],
      ['abc', 'a_c', true],
      ['abc', 'a_', false],
      ['abc', 'ABC', false],
      ['', '%', true],
      ['', '_', false],
      ['a.c', 'a.c', true],
      ['abc', 'a.c', false],
      ['a\nb', 'a_b', true],
      ['😀x', '_x', true],
      ['(x)+*', '(_)+*', true],
    ];
    for (const [s, p, expected] of table) {
      assert.equal(evaluate(`s.v LIKE s.p`, { v: s, p }), expected, `${JSON.stringify(s)} LIKE ${JSON.stringify(p)}`);
    }
    assert.equal(evaluate("'abc' NOT LIKE 'a%'"), false);
    assert.deepEqual(objects("SELECT _2 FROM S3Object WHERE _2 LIKE 'example-folder/%' AND _2 != 'example-folder/'", 'csv', [['b', 'example-folder/'], ['b', 'example-folder/object1'], ['b', 'other']]), [{ _2: 'example-folder/object1' }]);
  });

  test('ESCAPE makes %, _ and itself literal; other escapes are EvaluatorLikePatternInvalidEscapeSequence', () => {
    assert.equal(evaluate("'100%' LIKE '100!%' ESCAPE '!'"), true);
    assert.equal(evaluate("'1000' LIKE '100!%' ESCAPE '!'"), false);
    assert.equal(evaluate("'a_b' LIKE 'a\\_b' ESCAPE '\\'"), true);
    assert.equal(evaluate("'axb' LIKE 'a\\_b' ESCAPE '\\'"), false);
    assert.equal(evaluate("'a!b' LIKE 'a!!b' ESCAPE '!'"), true);
    assert.equal(
      errorCode(() => evaluate("'ab' LIKE 'a!b' ESCAPE '!'")),
      'EvaluatorLikePatternInvalidEscapeSequence',
    );
    assert.equal(
      errorCode(() => evaluate("'ab' LIKE 'ab!' ESCAPE '!'")),
      'EvaluatorLikePatternInvalidEscapeSequence',
    );
    assert.equal(
      errorCode(() => evaluate("'ab' LIKE 'ab' ESCAPE '!!'")),
      'LikeInvalidInputs',
    );
    assert.equal(
      errorCode(() => evaluate("'ab' LIKE 1")),
      'LikeInvalidInputs',
    );
  });

  test('patterns of many % match in time bounded by text × pattern length (a RegExp backtracked exponentially)', () => {
    // As a RegExp, '%a%a…%b' over 'aaa…' tried every way of splitting the text: C(5000, 9) ways
    // here (the probe froze a node for 2 s with 70 characters and 6 pieces).
    const text = 'a'.repeat(5000);
    assert.equal(evaluate(`s.v LIKE s.p`, { v: text, p: '%a%a%a%a%a%a%a%a%b' }), false);
    assert.equal(evaluate(`s.v LIKE s.p`, { v: `${text}b`, p: '%a%a%a%a%a%a%a%a%b' }), true);
    assert.equal(evaluate(`s.v LIKE s.p`, { v: text, p: '%a%a%_%a%a%' }), true);
  });

  test('LIKE with NULL / MISSING is unknown; a non-text value does not match', () => {
    assert.deepEqual(values("SELECT NULL LIKE 'a', 'a' LIKE NULL, s.x LIKE 'a', 5 LIKE '5' FROM S3Object s"), [null, null, undefined, null]);
  });

  test('agrees with a reference matcher (property)', () => {
    /** Reference: backtracking over code points. */
    const matches = (s: string[], p: string[]): boolean => {
      if (p.length === 0) return s.length === 0;
      if (p[0] === '%') return matches(s, p.slice(1)) || (s.length > 0 && matches(s.slice(1), p));
      return s.length > 0 && (p[0] === '_' || p[0] === s[0]) && matches(s.slice(1), p.slice(1));
    };
    const q = compile('SELECT _1 LIKE _2 FROM S3Object', 'csv');
    const alphabet = fc.constantFrom('a', 'b', '.', '*', '😀', '%', '_');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 8 }), fc.array(alphabet, { maxLength: 6 }), (s, p) => {
        const text = s.join('');
        let got: SqlValue;
        q.process({ kind: 'csv', fields: [text, p.join('')] }, (r) => (got = r.values[0]));
        assert.equal(got, matches([...text], p));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('S3 Select SQL: CAST', () => {
  test('to INT truncates toward zero; to FLOAT / DECIMAL parses; to STRING prints', () => {
    assert.deepEqual(values("SELECT CAST('42' AS INT), CAST(' 7 ' AS INTEGER), CAST('3.9' AS INT), CAST(-3.9 AS INT), CAST(true AS INT), CAST('1e3' AS INT) FROM S3Object"), [42, 7, 3, -3, 1, 1000]);
    assert.deepEqual(values("SELECT CAST('0.456' AS FLOAT), CAST('1.50' AS DECIMAL(5,2)), CAST(2 AS REAL), CAST('-1e-2' AS DOUBLE PRECISION), CAST('12' AS NUMERIC) FROM S3Object"), [0.456, 1.5, 2, -0.01, 12]);
    assert.deepEqual(values("SELECT CAST(12 AS STRING), CAST(1.5 AS VARCHAR), CAST(false AS CHAR(5)), CAST(`2007-04-05T14:30Z` AS STRING), CAST('x' AS STRING) FROM S3Object"), ['12', '1.5', 'false', '2007-04-05T14:30Z', 'x']);
  });

  test('to BOOL: true/false text (any case) and numbers', () => {
    assert.deepEqual(values("SELECT CAST('TRUE' AS BOOL), CAST('false' AS BOOLEAN), CAST(0 AS BOOL), CAST(2 AS BOOL), CAST(true AS BOOL) FROM S3Object"), [true, false, false, true, true]);
  });

  test("to TIMESTAMP: Ion text (AWS's example)", () => {
    assert.deepEqual(values("SELECT CAST('2007-04-05T14:30Z' AS TIMESTAMP), CAST(`2007T` AS TIMESTAMP) FROM S3Object"), ['2007-04-05T14:30Z', '2007T']);
  });

  test('NULL and MISSING stay as they are', () => {
    assert.deepEqual(rows('SELECT CAST(NULL AS INT), CAST(s.x AS STRING) FROM S3Object s', 'json', [{}])[0]!.values, [null, undefined]);
  });

  test('a value of a convertible type that does not convert is CastFailed', () => {
    for (const expr of ["CAST('abc' AS INT)", "CAST('' AS INT)", "CAST('1.2.3' AS FLOAT)", "CAST('yes' AS BOOL)", "CAST('2007-02-30T' AS TIMESTAMP)", "CAST('x' AS DECIMAL)"]) {
      assert.equal(
        errorCode(() => evaluate(expr)),
        'CastFailed',
        expr,
      );
    }
    // Reported for the record that fails, from process().
    const q = compile('SELECT CAST(_1 AS INT) FROM S3Object', 'csv');
    const got: SqlValue[] = [];
    q.process({ kind: 'csv', fields: ['5'] }, (r) => got.push(r.values[0]));
    assert.deepEqual(got, [5]);
    assert.equal(
      errorCode(() => q.process({ kind: 'csv', fields: ['five'] }, () => {})),
      'CastFailed',
    );
  });

  test('a type that never converts is InvalidCast', () => {
    for (const expr of ['CAST(`2007T` AS INT)', 'CAST(`2007T` AS BOOL)', 'CAST(1 AS TIMESTAMP)', 'CAST(s.o AS STRING)', 'CAST(s.o AS INT)']) {
      assert.equal(
        errorCode(() => evaluate(expr, { o: { a: 1 } })),
        'InvalidCast',
        expr,
      );
    }
  });

  test('to INT beyond 8 bytes is IntegerOverflow', () => {
    assert.equal(
      errorCode(() => evaluate("CAST('1e19' AS INT)")),
      'IntegerOverflow',
    );
  });

  test('INT text round-trips through CAST (property)', () => {
    const q = compile('SELECT CAST(CAST(_1 AS INT) AS STRING), CAST(_1 AS INT) FROM S3Object', 'csv');
    fc.assert(
      fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (n) => {
        let got: readonly SqlValue[] = [];
        q.process({ kind: 'csv', fields: [String(n)] }, (r) => (got = r.values));
        assert.deepEqual(got, [String(n), n]);
      }),
      { numRuns: 500 },
    );
  });

  test('numeric text reads as Number() reads what the numeric pattern accepts, plain integers too (property)', () => {
    const pattern = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
    const reference = (s: string): number | undefined => (pattern.test(s) ? Number(s) : undefined);
    for (const s of ['', '-', '+', '0', '-0', '+7', '007', '123456789012345', '1234567890123456', '-99999999999999999999', ' 12 ', '1.5', '1e3', '12a', '٣']) {
      assert.ok(Object.is(numericString(s), reference(s)), s);
    }
    assert.ok(Object.is(numericString('-0'), -0));
    const unit = fc.constantFrom('0', '1', '9', '-', '+', '.', 'e', ' ', 'a');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit, maxLength: 18 }), fc.integer().map(String), fc.bigInt().map(String), fc.double().map(String)), (s) => {
        assert.ok(Object.is(numericString(s), reference(s)), s);
      }),
      { numRuns: 2000 },
    );
  });

  test('numeric comparison of fields agrees with numbers (property)', () => {
    const q = compile('SELECT _1 < _2 AS lt, _1 = _2 AS eq, _1 < 0 AS neg FROM S3Object', 'csv');
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (a, b) => {
        let got: readonly SqlValue[] = [];
        q.process({ kind: 'csv', fields: [String(a), String(b)] }, (r) => (got = r.values));
        // Two fields compare as text; a field against a number compares as a number.
        assert.deepEqual(got, [String(a) < String(b), a === b, a < 0]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('S3 Select SQL: string functions', () => {
  test("CHAR_LENGTH / CHARACTER_LENGTH count characters (AWS's examples)", () => {
    assert.deepEqual(values("SELECT CHAR_LENGTH(''), CHAR_LENGTH('abcdefg'), CHARACTER_LENGTH('héllo'), char_length('😀😀') FROM S3Object"), [0, 7, 5, 2]);
  });

  test("LOWER / UPPER (AWS's examples)", () => {
    assert.deepEqual(values("SELECT LOWER('AbCdEfG!@#$'), UPPER('AbCdEfG!@#$') FROM S3Object"), ['abcdefg!@#$', 'ABCDEFG!@#$']);
    assert.equal(
      errorCode(() => evaluate('LOWER(1)')),
      'IncorrectSqlFunctionArgumentType',
    );
  });

  test("SUBSTRING in both syntaxes (AWS's examples and edge rules)", () => {
    const table: [string, string][] = [
      ["SUBSTRING('123456789', 0)", '123456789'],
      ["SUBSTRING('123456789', 1)", '123456789'],
      ["SUBSTRING('123456789', 2)", '23456789'],
      ["SUBSTRING('123456789', -4)", '123456789'],
      ["SUBSTRING('123456789', 0, 999)", '123456789'],
      ["SUBSTRING('123456789', 1, 5)", '12345'],
      ["SUBSTRING('123456789' FROM 3 FOR 2)", '34'],
      ["SUBSTRING('123456789' FROM 8)", '89'],
      ["SUBSTRING('123456789', 0, 3)", '12'],
      ["SUBSTRING('123456789', -2, 3)", ''],
      ["SUBSTRING('123456789', 20)", ''],
      ["SUBSTRING('a😀b', 2, 1)", '😀'],
    ];
    for (const [expr, expected] of table) assert.equal(evaluate(expr), expected, expr);
    assert.deepEqual(values('SELECT SUBSTRING(_1, _2, _3) FROM S3Object', 'csv', [['abcdef', '2', '3']]), ['bcd']);
    assert.equal(
      errorCode(() => evaluate("SUBSTRING('abc', 1, -1)")),
      'IllegalSqlFunctionArgument',
    );
    assert.equal(
      errorCode(() => evaluate("SUBSTRING('abc')")),
      'EvaluatorInvalidArguments',
    );
  });

  test("TRIM (AWS's examples)", () => {
    const table: [string, string][] = [
      ["TRIM('       foobar         ')", 'foobar'],
      ["TRIM('      \tfoobar\t         ')", '\tfoobar\t'],
      ["TRIM(LEADING FROM '       foobar         ')", 'foobar         '],
      ["TRIM(TRAILING FROM '       foobar         ')", '       foobar'],
      ["TRIM(BOTH FROM '       foobar         ')", 'foobar'],
      ["TRIM(BOTH '12' FROM '1112211foobar22211122')", 'foobar'],
      ["TRIM('x' FROM 'xxaxx')", 'a'],
      ["TRIM(LEADING 'x' FROM 'xxaxx')", 'axx'],
      ["TRIM(TRAILING '😀' FROM 'a😀😀')", 'a'],
    ];
    for (const [expr, expected] of table) assert.equal(evaluate(expr), expected, expr);
  });
});

describe('S3 Select SQL: timestamps', () => {
  test('literals keep the precision they were written with', () => {
    const forms = ['2007T', '2007-02T', '2007-02-23T', '2007-02-23T12:14Z', '2007-02-23T12:14:33Z', '2007-02-23T12:14:33.079-08:00', '2007-02-23T12:14:33.123456789+05:30', '2007-02-23T12:14-00:00'];
    for (const f of forms) assert.equal(evaluate(`\`${f}\``), f);
    // A date may omit the final T.
    assert.equal(evaluate('`2007-02-23`'), '2007-02-23T');
  });

  test('TO_TIMESTAMP parses; bad text is ValueParseFailure', () => {
    assert.deepEqual(values("SELECT TO_TIMESTAMP('2007T'), TO_TIMESTAMP('2007-02-23T12:14:33.079-08:00') FROM S3Object"), ['2007T', '2007-02-23T12:14:33.079-08:00']);
    for (const bad of ['2007', '2007-02', '2007-02-23T12:14', '2007-02-23T25:00Z', '2007-02-29T', '2007-02-23T12:14:33.Z', 'yesterday', '0000T']) {
      assert.equal(
        errorCode(() => evaluate(`TO_TIMESTAMP('${bad}')`)),
        'ValueParseFailure',
        bad,
      );
    }
    assert.equal(evaluate("TO_TIMESTAMP('2004-02-29T')"), '2004-02-29T');
  });

  test('Ion text round-trips through CAST (property)', () => {
    const q = compile('SELECT CAST(CAST(_1 AS TIMESTAMP) AS STRING) FROM S3Object', 'csv');
    const two = (n: number): string => String(n).padStart(2, '0');
    const text = fc
      .record({
        y: fc.integer({ min: 1, max: 9999 }),
        mo: fc.integer({ min: 1, max: 12 }),
        d: fc.integer({ min: 1, max: 28 }),
        h: fc.integer({ min: 0, max: 23 }),
        mi: fc.integer({ min: 0, max: 59 }),
        s: fc.integer({ min: 0, max: 59 }),
        frac: fc.stringMatching(/^[0-9]{1,9}$/),
        off: fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
        precision: fc.constantFrom('year', 'month', 'day', 'minute', 'second', 'fraction'),
      })
      .map(({ y, mo, d, h, mi, s, frac, off, precision }) => {
        const year = String(y).padStart(4, '0');
        if (precision === 'year') return `${year}T`;
        if (precision === 'month') return `${year}-${two(mo)}T`;
        if (precision === 'day') return `${year}-${two(mo)}-${two(d)}T`;
        const zone = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${two(Math.floor(Math.abs(off) / 60))}:${two(Math.abs(off) % 60)}`;
        const time = precision === 'minute' ? `${two(h)}:${two(mi)}` : precision === 'second' ? `${two(h)}:${two(mi)}:${two(s)}` : `${two(h)}:${two(mi)}:${two(s)}.${frac}`;
        return `${year}-${two(mo)}-${two(d)}T${time}${zone}`;
      });
    fc.assert(
      fc.property(text, (t) => {
        let got: SqlValue;
        q.process({ kind: 'csv', fields: [t] }, (r) => (got = r.values[0]));
        assert.equal(got, t);
      }),
      { numRuns: 500 },
    );
  });

  test("EXTRACT (AWS's examples)", () => {
    const table: [string, number][] = [
      ['EXTRACT(YEAR FROM `2010-01-01T`)', 2010],
      ['EXTRACT(MONTH FROM `2010T`)', 1],
      ['EXTRACT(MONTH FROM `2010-10T`)', 10],
      ['EXTRACT(HOUR FROM `2017-01-02T03:04:05+07:08`)', 3],
      ['EXTRACT(MINUTE FROM `2017-01-02T03:04:05+07:08`)', 4],
      ['EXTRACT(TIMEZONE_HOUR FROM `2017-01-02T03:04:05+07:08`)', 7],
      ['EXTRACT(TIMEZONE_MINUTE FROM `2017-01-02T03:04:05+07:08`)', 8],
      ['EXTRACT(SECOND FROM `2017-01-02T03:04:05.9Z`)', 5],
      ['EXTRACT(DAY FROM `2017-01-02T23:30-02:00`)', 2],
      ['EXTRACT(TIMEZONE_HOUR FROM `2017-01-02T03:04-08:30`)', -8],
      ['EXTRACT(TIMEZONE_MINUTE FROM `2017-01-02T03:04-08:30`)', -30],
      ['EXTRACT(TIMEZONE_HOUR FROM `2017-01-02T`)', 0],
    ];
    for (const [expr, expected] of table) assert.equal(evaluate(expr), expected, expr);
    assert.equal(
      errorCode(() => evaluate("EXTRACT(YEAR FROM '2010T')")),
      'IncorrectSqlFunctionArgumentType',
    );
  });

  test("DATE_ADD (AWS's examples; months clamp to the month's end)", () => {
    const table: [string, string][] = [
      ['DATE_ADD(year, 5, `2010-01-01T`)', '2015-01-01T'],
      ['DATE_ADD(month, 1, `2010T`)', '2010-02T'],
      ['DATE_ADD(month, 13, `2010T`)', '2011-02T'],
      ['DATE_ADD(day, -1, `2017-01-10T`)', '2017-01-09T'],
      ['DATE_ADD(hour, 1, `2017T`)', '2017-01-01T01:00-00:00'],
      ['DATE_ADD(hour, 1, `2017-01-02T03:04Z`)', '2017-01-02T04:04Z'],
      ['DATE_ADD(minute, 1, `2017-01-02T03:04:05.006Z`)', '2017-01-02T03:05:05.006Z'],
      ['DATE_ADD(second, 1, `2017-01-02T03:04:05.006Z`)', '2017-01-02T03:04:06.006Z'],
      ['DATE_ADD(month, 1, `2021-01-31T`)', '2021-02-28T'],
      ['DATE_ADD(year, 1, `2020-02-29T`)', '2021-02-28T'],
      ['DATE_ADD(month, -2, `2021-01-15T10:00+05:00`)', '2020-11-15T10:00+05:00'],
      ['DATE_ADD(day, 1, `2021-03-31T23:30-01:00`)', '2021-04-01T23:30-01:00'],
      ['DATE_ADD(second, -61, `2017-01-02T00:00:00Z`)', '2017-01-01T23:58:59Z'],
    ];
    for (const [expr, expected] of table) assert.equal(evaluate(expr), expected, expr);
    assert.deepEqual(values('SELECT DATE_ADD(day, _1, `2020-01-01T`) FROM S3Object', 'csv', [['31']]), ['2020-02-01T']);
    assert.equal(
      errorCode(() => evaluate('DATE_ADD(year, 9000, `2010T`)')),
      'IntegerOverflow',
    );
  });

  test("DATE_DIFF (AWS's examples): whole parts elapsed", () => {
    const table: [string, number][] = [
      ['DATE_DIFF(year, `2010-01-01T`, `2011-01-01T`)', 1],
      // AWS's page prints 4 here, which is the month count; five months are not a year.
      ['DATE_DIFF(year, `2010T`, `2010-05T`)', 0],
      ['DATE_DIFF(month, `2010T`, `2010-05T`)', 4],
      ['DATE_DIFF(month, `2010T`, `2011T`)', 12],
      ['DATE_DIFF(month, `2011T`, `2010T`)', -12],
      ['DATE_DIFF(day, `2010-01-01T23:00Z`, `2010-01-02T01:00Z`)', 0],
      ['DATE_DIFF(day, `2010-01-01T01:00Z`, `2010-01-02T01:00Z`)', 1],
      ['DATE_DIFF(month, `2010-01-31T`, `2010-02-28T`)', 0],
      ['DATE_DIFF(month, `2010-02-28T`, `2010-01-31T`)', 0],
      ['DATE_DIFF(hour, `2010-01-01T00:00Z`, `2010-01-01T05:59:59Z`)', 5],
      ['DATE_DIFF(minute, `2010-01-01T00:00+01:00`, `2010-01-01T00:00Z`)', 60],
      ['DATE_DIFF(second, `2010-01-01T00:00:01.5Z`, `2010-01-01T00:00:00Z`)', -1],
    ];
    for (const [expr, expected] of table) assert.equal(evaluate(expr), expected, expr);
  });

  test("TO_STRING (AWS's examples and the pattern letters)", () => {
    const table: [string, string][] = [
      ["TO_STRING(`1969-07-20T20:18Z`,  'MMMM d, y')", 'July 20, 1969'],
      ["TO_STRING(`1969-07-20T20:18Z`, 'MMM d, yyyy')", 'Jul 20, 1969'],
      ["TO_STRING(`1969-07-20T20:18Z`, 'M-d-yy')", '7-20-69'],
      ["TO_STRING(`1969-07-20T20:18Z`, 'MM-d-y')", '07-20-1969'],
      ["TO_STRING(`1969-07-20T20:18Z`, 'MMMM d, y h:m a')", 'July 20, 1969 8:18 PM'],
      ["TO_STRING(`1969-07-20T20:18Z`, 'y-MM-dd''T''H:m:ssX')", '1969-07-20T20:18:00Z'],
      ["TO_STRING(`1969-07-20T20:18+08:00`, 'y-MM-dd''T''H:m:ssXXXX')", '1969-07-20T20:18:00+0800'],
      ["TO_STRING(`1969-07-20T20:18+08:00`, 'y-MM-dd''T''H:m:ssXXXXX')", '1969-07-20T20:18:00+08:00'],
      ["TO_STRING(`1969-07-20T20:18+08:00`, 'X x xx xxx')", '+08 +08 +0800 +08:00'],
      ["TO_STRING(`1969-07-20T20:18-03:30`, 'X XX XXX')", '-0330 -0330 -03:30'],
      ["TO_STRING(`1969-07-20T20:18Z`, 'x XXX')", '+00 Z'],
      ["TO_STRING(`2017-01-02T03:04:05.006Z`, 'S SS SSS SSSSSS n')", '0 00 006 006000 6000000'],
      ["TO_STRING(`2017-01-02T03:04:05.123456789Z`, 'SSSSSSSSS n')", '123456789 123456789'],
      ["TO_STRING(`2017-01-02T00:07:05Z`, 'hh:mm a HH')", '12:07 AM 00'],
      ["TO_STRING(`2017-01-02T12:07:05Z`, 'h a MMMMM dd')", '12 PM J 02'],
      ["TO_STRING(`0005-01-02T`, 'yyyy yy y')", '0005 05 5'],
      ["TO_STRING(`2017-01-02T`, '''quoted ''''it''''s'' d')", "quoted 'it's 2"],
      ["TO_STRING(`2017-01-02T`, 'y/M/d - ')", '2017/1/2 - '],
    ];
    for (const [expr, expected] of table) assert.equal(evaluate(expr), expected, expr);
  });

  test('TO_STRING pattern errors are reported when evaluated', () => {
    assert.equal(
      errorCode(() => evaluate("TO_STRING(`2017T`, 'y Q')")),
      'EvaluatorInvalidTimestampFormatPatternSymbol',
    );
    assert.equal(
      errorCode(() => evaluate("TO_STRING(`2017T`, 'ddd')")),
      'EvaluatorInvalidTimestampFormatPattern',
    );
    assert.equal(
      errorCode(() => evaluate("TO_STRING(`2017T`, 'y ''open')")),
      'EvaluatorUnterminatedTimestampFormatPatternToken',
    );
    assert.equal(
      errorCode(() => evaluate("TO_STRING('2017T', 'y')")),
      'IncorrectSqlFunctionArgumentType',
    );
    // Compiling is fine: the error belongs to the rows that evaluate it.
    const q = compile("SELECT TO_STRING(`2017T`, 'Q') FROM S3Object");
    q.finish(() => assert.fail('no row'));
  });

  test('UTCNOW() comes from options.now, once per query', () => {
    let calls = 0;
    const now = (): number => {
      calls++;
      return NOW + calls;
    };
    const r = rows('SELECT UTCNOW(), UTCNOW() FROM S3Object', 'csv', [['a'], ['b']], { now });
    assert.equal(calls, 1);
    assert.deepEqual(
      r.map((x) => x.values.map(show)),
      [
        ['2021-06-15T10:20:30.457Z', '2021-06-15T10:20:30.457Z'],
        ['2021-06-15T10:20:30.457Z', '2021-06-15T10:20:30.457Z'],
      ],
    );
    // Not called for a query that does not use it.
    rows('SELECT _1 FROM S3Object', 'csv', [['a']], { now: () => assert.fail('now() called') });
    assert.equal(evaluate('EXTRACT(YEAR FROM UTCNOW())'), 2021);
  });

  test('formatTimestamp prints each precision, Z for UTC and -00:00 for an unknown offset', () => {
    const t = (precision: 'year' | 'month' | 'day' | 'minute' | 'second' | 'fraction', offsetMinutes: number, fraction?: string): string =>
      formatTimestamp({ kind: TIMESTAMP, ms: Date.UTC(2007, 1, 23, 20, 14, 33, 79), offsetMinutes, precision, ...(fraction ? { fraction } : {}) });
    assert.equal(t('year', 0), '2007T');
    assert.equal(t('month', 0), '2007-02T');
    assert.equal(t('day', 0), '2007-02-23T');
    assert.equal(t('minute', 0), '2007-02-23T20:14Z');
    assert.equal(t('second', -480), '2007-02-23T12:14:33-08:00');
    assert.equal(t('fraction', -480), '2007-02-23T12:14:33.079-08:00');
    assert.equal(t('fraction', 330, '0791'), '2007-02-24T01:44:33.0791+05:30');
    assert.equal(t('minute', -0), '2007-02-23T20:14-00:00');
  });
});

describe('S3 Select SQL: aggregates', () => {
  test("COUNT, SUM, AVG, MIN, MAX over CSV fields (AWS's SUM example)", () => {
    const inventory = [
      ['DOC-EXAMPLE-BUCKET', 'example-folder/', '0'],
      ['DOC-EXAMPLE-BUCKET', 'example-folder/object1', '2011267'],
      ['DOC-EXAMPLE-BUCKET', 'example-folder/object2', '1570024'],
    ];
    assert.deepEqual(objects("SELECT SUM(CAST(_3 as INT)) FROM s3object s WHERE _2 LIKE 'example-folder/%' AND _2 != 'example-folder/';", 'csv', inventory), [{ _1: 3581291 }]);
    const q = compile('SELECT COUNT(*), SUM(_3) AS total, AVG(_3), MIN(_3), MAX(_3), MAX(_2), COUNT(_9) FROM S3Object');
    assert.equal(q.aggregate, true);
    const out: OutputRow[] = [];
    for (const r of inventory) q.process({ kind: 'csv', fields: r }, (row) => out.push(row));
    assert.equal(out.length, 0);
    q.finish((row) => out.push(row));
    assert.deepEqual(out, [{ names: ['_1', 'total', '_3', '_4', '_5', '_6', '_7'], values: [3, 3581291, 3581291 / 3, 0, 2011267, 'example-folder/object2', 0] }]);
  });

  test('aggregates skip NULL and MISSING; over nothing they are NULL (COUNT is 0)', () => {
    const recs: JsonValue[] = [{ v: 1 }, { v: null }, {}, { v: 4 }];
    assert.deepEqual(values('SELECT COUNT(*), COUNT(s.v), SUM(s.v), AVG(s.v), MIN(s.v), MAX(s.v) FROM S3Object s', 'json', recs), [4, 2, 5, 2.5, 1, 4]);
    assert.deepEqual(values('SELECT COUNT(*), COUNT(s.v), SUM(s.v), AVG(s.v), MIN(s.v), MAX(s.v) FROM S3Object s', 'json', []), [0, 0, null, null, null, null]);
  });

  test('aggregates with WHERE, over a FROM path, and in expressions', () => {
    const recs = [{ items: [{ p: 2 }, { p: 3 }] }, { items: [{ p: 5 }] }, { items: [] }];
    assert.deepEqual(values('SELECT COUNT(*), SUM(i.p), MAX(i.p) - MIN(i.p) AS spread, SUM(i.p) / COUNT(i.p) FROM S3Object[*].items[*] i WHERE i.p > 2', 'json', recs), [2, 8, 2, 4]);
    assert.deepEqual(values('SELECT COUNT(*) FROM S3Object[*].items[*] i', 'json', recs), [4]);
    assert.deepEqual(values("SELECT MIN(s.d), MAX(s.name), 'n' || CAST(COUNT(*) AS STRING) FROM S3Object s", 'json', [{ d: '2020', name: 'b' }, { d: '2019', name: 'a' }]), ['2019', 'b', 'n2']);
  });

  test('timestamps and untyped numbers: MIN / MAX compare by value', () => {
    assert.deepEqual(values('SELECT MIN(_1), MAX(_1) FROM S3Object', 'csv', [['9'], ['10'], ['-1.5']]), [-1.5, 10]);
    assert.deepEqual(values('SELECT MAX(TO_TIMESTAMP(_1)) FROM S3Object', 'csv', [['2020T'], ['2021-01-01T00:00+01:00'], ['2020-12-31T23:30Z']]), ['2020-12-31T23:30Z']);
    assert.equal(
      errorCode(() => rows('SELECT MAX(s.v) FROM S3Object s', 'json', [{ v: 1 }, { v: 'a' }])),
      'IncorrectSqlFunctionArgumentType',
    );
    assert.equal(
      errorCode(() => rows('SELECT SUM(s.v) FROM S3Object s', 'json', [{ v: 1 }, { v: 'a' }])),
      'IncorrectSqlFunctionArgumentType',
    );
  });

  test('SUM of integers beyond 8 bytes is IntegerOverflow', () => {
    assert.equal(
      errorCode(() => rows('SELECT SUM(_1) FROM S3Object', 'csv', [['9000000000000000000'], ['9000000000000000000']])),
      'IntegerOverflow',
    );
  });

  test('an aggregate query may select only aggregates and constants; aggregates may not nest or filter', () => {
    assert.deepEqual(values("SELECT COUNT(*), 'label', 1 + 1 FROM S3Object", 'csv', [['a']]), [1, 'label', 2]);
    for (const sql of ['SELECT _1, COUNT(*) FROM S3Object', 'SELECT COUNT(*) + _1 FROM S3Object', 'SELECT SUM(COUNT(*)) FROM S3Object', 'SELECT s.*, COUNT(*) FROM S3Object s']) {
      assert.equal(
        errorCode(() => compile(sql)),
        'UnsupportedSqlStructure',
        sql,
      );
    }
    assert.equal(
      errorCode(() => compile('SELECT _1 FROM S3Object WHERE COUNT(*) > 1')),
      'UnsupportedSqlOperation',
    );
  });

  test('LIMIT does not cut an aggregate short; LIMIT 0 gives no row', () => {
    const q = compile('SELECT COUNT(*) FROM S3Object LIMIT 1');
    const out: OutputRow[] = [];
    for (let i = 0; i < 5; i++) q.process({ kind: 'csv', fields: ['x'] }, (r) => out.push(r));
    assert.equal(q.done, false);
    q.finish((r) => out.push(r));
    q.finish((r) => out.push(r));
    assert.deepEqual(out, [{ names: ['_1'], values: [5] }]);
    const zero = compile('SELECT COUNT(*) FROM S3Object LIMIT 0');
    assert.equal(zero.done, true);
    zero.finish(() => assert.fail('no row with LIMIT 0'));
  });
});

describe('S3 Select SQL: LIMIT and done', () => {
  test('stops after LIMIT rows: done turns true and further records are ignored', () => {
    const q = compile("SELECT _1 FROM S3Object WHERE _3 = 'NY' LIMIT 1");
    assert.equal(q.aggregate, false);
    const out: SqlValue[] = [];
    q.process({ kind: 'csv', fields: PEOPLE[1]! }, (r) => out.push(r.values[0]));
    assert.equal(q.done, false);
    q.process({ kind: 'csv', fields: PEOPLE[0]! }, (r) => out.push(r.values[0]));
    assert.equal(q.done, true);
    q.process({ kind: 'csv', fields: PEOPLE[2]! }, (r) => out.push(r.values[0]));
    q.finish(() => assert.fail('not an aggregate'));
    assert.deepEqual(out, ['alice']);
  });

  test('LIMIT 0 is done before any record', () => {
    const q = compile('SELECT * FROM S3Object LIMIT 0');
    assert.equal(q.done, true);
    q.process({ kind: 'csv', fields: ['a'] }, () => assert.fail('no row'));
  });

  test('LIMIT counts rows, not records: it stops inside a JSON record iterated with [*]', () => {
    const q = compile('SELECT x FROM S3Object[*].xs[*] x LIMIT 3', 'json');
    const out: SqlValue[] = [];
    q.process({ kind: 'json', value: { xs: [1, 2] } }, (r) => out.push(r.values[0]));
    assert.equal(q.done, false);
    q.process({ kind: 'json', value: { xs: [3, 4, 5] } }, (r) => out.push(r.values[0]));
    assert.equal(q.done, true);
    assert.deepEqual(out, [1, 2, 3]);
  });

  test('without LIMIT the query never finishes early', () => {
    const q = compile('SELECT * FROM S3Object');
    let n = 0;
    for (let i = 0; i < 1000; i++) q.process({ kind: 'csv', fields: [String(i)] }, () => n++);
    assert.equal(n, 1000);
    assert.equal(q.done, false);
  });

  test('JSON input shaped like a timestamp stays JSON (timestamps carry a symbol no JSON can hold)', () => {
    const lookalike = { kind: 'timestamp', ms: 0, offsetMinutes: 0, precision: 'year' };
    const [v] = values('SELECT s.t FROM S3Object s', 'json', [{ t: lookalike }]);
    assert.equal(isTimestamp(v), false);
    assert.deepEqual(v, lookalike);
    assert.equal(isTimestamp(rows('SELECT TO_TIMESTAMP(s.t) FROM S3Object s', 'json', [{ t: '2007T' }])[0]!.values[0]), true);
  });

  test('a record of the other format is a programming error', () => {
    assert.throws(() => compile('SELECT * FROM S3Object', 'csv').process({ kind: 'json', value: {} }, () => {}), TypeError);
    assert.throws(() => compile('SELECT * FROM S3Object', 'json').process({ kind: 'csv', fields: [] }, () => {}), TypeError);
  });
});
