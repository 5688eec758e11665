/** What in-place scanning needs from a CREATE TABLE statement. */
export interface TableShape {
  /** Column names in declaration order (the order values sit in each record). */
  columns: string[];
  /** Index of an INTEGER PRIMARY KEY column: stored as the row id, NULL in the record. */
  rowidColumn: number;
  /** WITHOUT ROWID tables are index b-trees, which the scanner does not read. */
  withoutRowid: boolean;
}

const TABLE_CONSTRAINTS = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN']);
const QUOTES: Record<string, string> = { '"': '"', '[': ']', '`': '`', "'": "'" };

/** The first token of a column definition, unquoted, and the rest of it. */
function firstToken(def: string): { token: string; quoted: boolean; rest: string } {
  const open = def[0] ?? '';
  const close = QUOTES[open];
  if (close) {
    let token = '';
    for (let i = 1; i < def.length; i++) {
      if (def[i] === close) {
        if (close !== ']' && def[i + 1] === close) {
          token += close;
          i++;
          continue;
        }
        return { token, quoted: true, rest: def.slice(i + 1) };
      }
      token += def[i];
    }
    return { token, quoted: true, rest: '' };
  }
  const m = /^([^\s(]+)([\s\S]*)$/.exec(def);
  return { token: m?.[1] ?? '', quoted: false, rest: m?.[2] ?? '' };
}

/**
 * Column names of `CREATE TABLE name (…)`, split at top-level commas (quotes and nested
 * parentheses respected). undefined for anything that is not that shape (e.g. `CREATE TABLE … AS SELECT`).
 */
export function tableShapeOf(sql: string): TableShape | undefined {
  const open = sql.indexOf('(');
  if (open < 0) return undefined;
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = open + 1;
  let close = -1;
  for (let i = open; i < sql.length && close < 0; i++) {
    const c = sql[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (QUOTES[c]) quote = QUOTES[c];
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) close = i;
    } else if (c === ',' && depth === 1) {
      parts.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  if (close < 0) return undefined;
  parts.push(sql.slice(start, close));
  const columns: string[] = [];
  let rowidColumn = -1;
  for (const raw of parts) {
    const def = raw.trim();
    if (def === '') return undefined;
    const { token, quoted, rest } = firstToken(def);
    if (!quoted && TABLE_CONSTRAINTS.has(token.toUpperCase())) continue;
    const type = /^\s*(\w+)/.exec(rest)?.[1]?.toUpperCase();
    if (type === 'INTEGER' && /\bPRIMARY\s+KEY\b/i.test(rest) && !/\bDESC\b/i.test(rest)) rowidColumn = columns.length;
    columns.push(token);
  }
  if (columns.length === 0) return undefined;
  return { columns, rowidColumn, withoutRowid: /\bWITHOUT\s+ROWID\b/i.test(sql.slice(close + 1)) };
}
