// What the table shows and in which order: sorting by a column and a text
// filter, as pure functions of the rows' values (no DOM; node --test in
// tests/js/tableview.test.js). table.js applies them.

/**
 * The sort after a press on `column`'s header: ascending, then descending,
 * then back to the feeds' own order (null).
 * A sort is {column, direction: 'ascending'|'descending'}, the aria-sort words.
 */
export function nextSort(sort, column) {
  if (!sort || sort.column !== column) return { column, direction: 'ascending' };
  if (sort.direction === 'ascending') return { column, direction: 'descending' };
  return null;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function missing(v) {
  return v === null || v === undefined || v === '' || (typeof v === 'number' && Number.isNaN(v));
}

/** Orders two cell values: numbers by value, text by the reader's collation. */
export function compareValues(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}

/**
 * The rows' keys in display order. `rows`: [{key, values: {column: value}}]
 * in the feeds' own order. Rows without a value in the sorted column go last
 * in either direction (a dash is not "smallest"); ties keep the own order.
 */
export function orderRows(rows, sort) {
  const keys = rows.map((r) => r.key);
  if (!sort) return keys;
  const sign = sort.direction === 'descending' ? -1 : 1;
  const indexed = rows.map((r, i) => ({ key: r.key, i, v: r.values[sort.column] }));
  indexed.sort((x, y) => {
    const mx = missing(x.v);
    const my = missing(y.v);
    if (mx || my) return mx === my ? x.i - y.i : (mx ? 1 : -1);
    return sign * compareValues(x.v, y.v) || x.i - y.i;
  });
  return indexed.map((r) => r.key);
}

/**
 * Whether a row whose searchable text is `text` passes the filter `query`:
 * every word of the query appears in it, ignoring case. An empty query passes all.
 */
export function matchesFilter(text, query) {
  const words = query.toLocaleLowerCase().split(/\s+/).filter(Boolean);
  const haystack = text.toLocaleLowerCase();
  return words.every((w) => haystack.includes(w));
}

/** Whether two key orders are the same (so the DOM need not move). */
export function sameOrder(a, b) {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}
