/**
 * Errors of SelectObjectContent (S3 Select), with AWS's codes, statuses and messages. Before the
 * response starts they are answered as ordinary S3 error documents; once records have been sent
 * they travel as an error event of the stream.
 */

/** Status and default message of each S3 Select error code (AWS's "SELECT Object Content" error table). */
export const SELECT_ERRORS = {
  CSVParsingError: { status: 400, message: 'Encountered an error parsing the CSV file. Check the file and try again.' },
  CSVUnescapedQuote: { status: 400, message: 'A CSV record contains an unescaped quote character. Check the file and try again.' },
  CSVEscapingRecordDelimiter: { status: 400, message: 'A quoted record delimiter was found in the file. To allow quoted record delimiters, set AllowQuotedRecordDelimiter to TRUE.' },
  JSONParsingError: { status: 400, message: 'Encountered an error parsing the JSON file. Check the file and try again.' },
  OverMaxRecordSize: { status: 400, message: 'The length of a record in the input or result is greater than the maxCharsPerRecord limit of 1 MB.' },
  InvalidTextEncoding: { status: 400, message: 'Invalid encoding type. Only UTF-8 encoding is supported.' },
  TruncatedInput: { status: 400, message: 'The object to query ended before its compressed stream did (truncated GZIP or BZIP2 input).' },
  // The SQL engine's codes (src/cloud/s3/select/sql/). AWS's table swaps the three Lexer* messages;
  // they are given here as the codes mean.
  ExpressionTooLong: { status: 400, message: 'The SQL expression is too long. The maximum byte-length for an SQL expression is 256 KB.' },
  MaxOperatorsExceeded: { status: 400, message: 'Failed to parse SQL expression, try reducing complexity. For example, reduce number of operators used.' },
  LexerInvalidChar: { status: 400, message: 'The SQL expression contains a character that is not valid.' },
  LexerInvalidIONLiteral: { status: 400, message: 'The SQL expression contains an Ion literal that is not valid.' },
  LexerInvalidLiteral: { status: 400, message: 'The SQL expression contains a literal that is not valid.' },
  LexerInvalidOperator: { status: 400, message: 'The SQL expression contains an operator that is not valid.' },
  ParseAsteriskIsNotAloneInSelectList: { status: 400, message: 'Other expressions are not allowed in the SELECT list when * is used without dot notation in the SQL expression.' },
  ParseCannotMixSqbAndWildcardInSelectList: { status: 400, message: 'Cannot mix [] and * in the same expression in a SELECT list in the SQL expression.' },
  ParseCastArity: { status: 400, message: 'The SQL expression CAST has incorrect arity.' },
  ParseEmptySelect: { status: 400, message: 'The SQL expression contains an empty SELECT clause.' },
  ParseExpectedArgumentDelimiter: { status: 400, message: 'The expected argument delimiter in the SQL expression was not found.' },
  ParseExpectedDatePart: { status: 400, message: 'The expected date part in the SQL expression was not found.' },
  ParseExpectedExpression: { status: 400, message: 'The expected SQL expression was not found.' },
  ParseExpectedIdentForAlias: { status: 400, message: 'The expected identifier for the alias in the SQL expression was not found.' },
  ParseExpectedIdentForGroupName: { status: 400, message: 'GROUP is not supported in the SQL expression.' },
  ParseExpectedKeyword: { status: 400, message: 'The expected keyword in the SQL expression was not found.' },
  ParseExpectedLeftParenAfterCast: { status: 400, message: 'The expected left parenthesis after CAST in the SQL expression was not found.' },
  ParseExpectedLeftParenBuiltinFunctionCall: { status: 400, message: 'The expected left parenthesis in the SQL expression was not found.' },
  ParseExpectedNumber: { status: 400, message: 'The expected number in the SQL expression was not found.' },
  ParseExpectedRightParenBuiltinFunctionCall: { status: 400, message: 'The expected right parenthesis character in the SQL expression was not found.' },
  ParseExpectedTokenType: { status: 400, message: 'The expected token in the SQL expression was not found.' },
  ParseExpectedTypeName: { status: 400, message: 'The expected type name in the SQL expression was not found.' },
  ParseExpectedWhenClause: { status: 400, message: 'The expected WHEN clause in the SQL expression was not found. CASE is not supported.' },
  ParseInvalidContextForWildcardInSelectList: { status: 400, message: 'The use of * in the SELECT list in the SQL expression is not valid.' },
  ParseInvalidPathComponent: { status: 400, message: 'The SQL expression contains a path component that is not valid.' },
  ParseInvalidTypeParam: { status: 400, message: 'The SQL expression contains a parameter value that is not valid.' },
  ParseMalformedJoin: { status: 400, message: 'JOIN is not supported in the SQL expression.' },
  ParseNonUnaryAgregateFunctionCall: { status: 400, message: 'Only one argument is supported for aggregate functions in the SQL expression.' },
  ParseSelectMissingFrom: { status: 400, message: 'The SQL expression contains a missing FROM after the SELECT list.' },
  ParseUnExpectedKeyword: { status: 400, message: 'The SQL expression contains an unexpected keyword.' },
  ParseUnexpectedOperator: { status: 400, message: 'The SQL expression contains an unexpected operator.' },
  ParseUnexpectedTerm: { status: 400, message: 'The SQL expression contains an unexpected term.' },
  ParseUnexpectedToken: { status: 400, message: 'The SQL expression contains an unexpected token.' },
  ParseUnknownOperator: { status: 400, message: 'The SQL expression contains an operator that is not valid.' },
  ParseUnsupportedCallWithStar: { status: 400, message: 'Only COUNT with (*) as a parameter is supported in the SQL expression.' },
  ParseUnsupportedSelect: { status: 400, message: 'The SQL expression contains an unsupported use of SELECT.' },
  ParseUnsupportedSyntax: { status: 400, message: 'The SQL expression contains unsupported syntax.' },
  AmbiguousFieldName: { status: 400, message: 'The field name matches to multiple fields in the file. Check the SQL expression and the file, and try again.' },
  CastFailed: { status: 400, message: 'An attempt to convert from one data type to another using CAST failed in the SQL expression.' },
  InvalidCast: { status: 400, message: 'An attempt to convert from one data type to another using CAST failed in the SQL expression.' },
  EvaluatorInvalidArguments: { status: 400, message: 'There is an incorrect number of arguments in the function call in the SQL expression.' },
  EvaluatorInvalidTimestampFormatPattern: { status: 400, message: 'The timestamp format string in the SQL expression is not valid.' },
  EvaluatorInvalidTimestampFormatPatternSymbol: { status: 400, message: 'The timestamp format pattern contains a symbol in the SQL expression that is not valid.' },
  EvaluatorUnterminatedTimestampFormatPatternToken: { status: 400, message: 'The timestamp format pattern contains an unterminated token in the SQL expression.' },
  EvaluatorLikePatternInvalidEscapeSequence: { status: 400, message: 'An argument given to the LIKE expression was not valid.' },
  EvaluatorNegativeLimit: { status: 400, message: 'LIMIT must not be negative.' },
  IllegalSqlFunctionArgument: { status: 400, message: 'An illegal argument was used in the SQL function.' },
  IncorrectSqlFunctionArgumentType: { status: 400, message: 'An incorrect argument type was specified in a function call in the SQL expression.' },
  IntegerOverflow: { status: 400, message: 'An integer overflow or underflow occurred in the SQL expression.' },
  InvalidColumnIndex: { status: 400, message: 'The column index in the SQL expression is not valid.' },
  InvalidDataType: { status: 400, message: 'The SQL expression contains a data type that is not valid.' },
  InvalidKeyPath: { status: 400, message: 'The key path in the SQL expression is not valid.' },
  InvalidTableAlias: { status: 400, message: 'The SQL expression contains a table alias that is not valid.' },
  LikeInvalidInputs: { status: 400, message: 'The argument given to the LIKE clause in the SQL expression is not valid.' },
  MissingHeaders: { status: 400, message: 'Some headers in the query are missing from the file. Check the file and try again.' },
  UnsupportedFunction: { status: 400, message: 'We encountered an unsupported SQL function.' },
  UnsupportedSqlOperation: { status: 400, message: 'We encountered an unsupported SQL operation.' },
  UnsupportedSqlStructure: { status: 400, message: 'We encountered an unsupported SQL structure. Check the SQL Reference.' },
  ValueParseFailure: { status: 400, message: 'A timestamp parse failure occurred in the SQL expression.' },
  // The request document.
  EmptyRequestBody: { status: 400, message: 'The request body cannot be empty.' },
  MissingRequiredParameter: { status: 400, message: 'The SelectRequest entity is missing a required parameter.' },
  InvalidExpressionType: { status: 400, message: 'The ExpressionType value is not valid. Only SQL expressions are supported.' },
  InvalidCompressionFormat: { status: 400, message: 'The file is not in a supported compression format. Only GZIP and BZIP2 are supported.' },
  InvalidFileHeaderInfo: { status: 400, message: 'The FileHeaderInfo value is not valid. Only NONE, USE, and IGNORE are supported.' },
  InvalidJsonType: { status: 400, message: 'The JsonType value is not valid. Only DOCUMENT and LINES are supported.' },
  InvalidQuoteFields: { status: 400, message: 'The QuoteFields value is not valid. Only ALWAYS and ASNEEDED are supported.' },
  InvalidRequestParameter: { status: 400, message: 'The value of a parameter in the SelectRequest entity is not valid.' },
  InvalidScanRange: { status: 400, message: 'The provided scan range is not valid.' },
  UnsupportedScanRangeInput: { status: 400, message: 'Scan range queries are not supported on this type of object.' },
  ObjectSerializationConflict: { status: 400, message: 'InputSerialization specifies more than one format (CSV, JSON, or Parquet), or OutputSerialization specifies more than one format (CSV or JSON). InputSerialization and OutputSerialization can only specify one format each.' },
} as const;

/** An S3 Select error code. */
export type SelectErrorCode = keyof typeof SELECT_ERRORS;

/** An error of an S3 Select query or of its input, with AWS's code. */
export class SelectError extends Error {
  readonly code: SelectErrorCode;
  readonly status: number;

  constructor(code: SelectErrorCode, message?: string) {
    super(message ?? SELECT_ERRORS[code].message);
    this.name = 'SelectError';
    this.code = code;
    this.status = SELECT_ERRORS[code].status;
  }
}
