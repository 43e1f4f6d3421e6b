/**
 * SQL text for telemetry, shared by the PostgreSQL and MySQL parsers: a
 * fingerprint for db.query.text (literals to '?', IN-lists and VALUES tuples
 * collapsed, comments dropped, whitespace normalised), the operation verb, and
 * the first table named (db.collection.name), found cheaply without a parser.
 *
 * Example:
 *   fingerprintSql("SELECT * FROM orders WHERE id IN (1, 2, 3) AND note = 'x'")
 *     // "SELECT * FROM orders WHERE id IN (?) AND note = ?"
 *   sqlOperation('  insert into t values (1)')   // 'INSERT'
 *   sqlCollection('UPDATE public.accounts SET x = 1')  // 'public.accounts'
 */

const MAX_TEXT = 2048;

/** Literals and comments to '?' / nothing, in one left-to-right pass (quotes can contain anything). */
function stripLiterals(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      while (i < n && sql[i] !== '\n') i++;
      out += ' ';
      continue;
    }
    if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      out += ' ';
      continue;
    }
    if (c === "'") {
      // '...' with '' and \' escapes
      i++;
      while (i < n) {
        if (sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i++;
      }
      i++;
      out += '?';
      continue;
    }
    if (c === '$') {
      // PostgreSQL dollar quoting $tag$...$tag$ (but not $1 placeholders)
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length);
        i = end < 0 ? n : end + m[0].length;
        out += '?';
        continue;
      }
    }
    if (/[0-9]/.test(c) && !/[A-Za-z0-9_$.]/.test(out[out.length - 1] ?? ' ')) {
      // a number not glued to an identifier: 42, 3.14, 1e9, 0x1F
      const m = /^(0x[0-9a-fA-F]+|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?)/.exec(sql.slice(i, i + 64));
      if (m) {
        i += m[0].length;
        out += '?';
        continue;
      }
    }
    if (c === '-' && /[0-9]/.test(next ?? '') && /[=(,<>+\-*/]$/.test(out.trimEnd().slice(-1) || '=')) {
      // a negative number after an operator: the sign belongs to the literal
      i++;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

export function fingerprintSql(sql: string): string {
  let s = stripLiterals(sql.length > 65536 ? sql.slice(0, 65536) : sql);
  s = s.replace(/\s+/g, ' ').trim();
  // IN (?, ?, ?) -> IN (?); VALUES (?, ?), (?, ?) -> VALUES (?, ?)
  s = s.replace(/\bIN\s*\(\s*\?(\s*,\s*\?)*\s*\)/gi, (m) => m.replace(/\(.*\)/, '(?)'));
  s = s.replace(/(\(\s*\?(?:\s*,\s*\?)*\s*\))(\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))+/g, '$1');
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;
}

/** The statement's verb, upper case ("SELECT", "INSERT", "BEGIN", ...). */
export function sqlOperation(sql: string): string | undefined {
  const m = /^[\s(]*([A-Za-z]+)/.exec(sql.replace(/^\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*/g, ''));
  return m?.[1]?.toUpperCase();
}

const IDENT = '((?:"[^"]+"|`[^`]+`|[A-Za-z_][A-Za-z0-9_$]*)(?:\\.(?:"[^"]+"|`[^`]+`|[A-Za-z_][A-Za-z0-9_$]*))?)';
const TABLE_AFTER: Record<string, RegExp> = {
  SELECT: new RegExp(`\\bFROM\\s+${IDENT}`, 'i'),
  DELETE: new RegExp(`\\bFROM\\s+${IDENT}`, 'i'),
  INSERT: new RegExp(`\\bINTO\\s+${IDENT}`, 'i'),
  REPLACE: new RegExp(`\\bINTO\\s+${IDENT}`, 'i'),
  UPDATE: new RegExp(`^\\s*UPDATE\\s+(?:ONLY\\s+)?${IDENT}`, 'i'),
  COPY: new RegExp(`^\\s*COPY\\s+${IDENT}`, 'i'),
  TRUNCATE: new RegExp(`^\\s*TRUNCATE\\s+(?:TABLE\\s+)?${IDENT}`, 'i'),
};

/** The first table the statement names, unquoted ("public.accounts"), when cheaply found. */
export function sqlCollection(sql: string): string | undefined {
  const op = sqlOperation(sql);
  const re = op ? TABLE_AFTER[op] : undefined;
  const m = re?.exec(sql);
  const name = m?.[1]?.replace(/["`]/g, '');
  // FROM (subquery) or FROM generate_series(...) name no table
  if (!name || /^(select|lateral|unnest)$/i.test(name)) return undefined;
  return name;
}
