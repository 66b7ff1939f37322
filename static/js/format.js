// Number formatting for the table and panel heads. Formatters are built once:
// constructing Intl.NumberFormat on every update would dominate the cost.

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const fixed2 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const small = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

/**
 * A value as people read it. `fractional` says the series has shown decimals
 * (decided per series, so a price of exactly 100 still reads "100.00"); below
 * a cent, two decimals would say 0.00, so significant digits take over.
 */
export function formatValue(v, fractional) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (!fractional) return integer.format(v);
  return v !== 0 && Math.abs(v) < 0.01 ? small.format(v) : fixed2.format(v);
}

function signed(text, v) {
  return v > 0 ? `+${text}` : text;
}

export function formatChange(v, fractional) {
  if (v === null || Number.isNaN(v)) return '—';
  return signed(formatValue(v, fractional), v);
}

export function formatPercent(v) {
  if (v === null || !Number.isFinite(v)) return '—';
  return `${signed(fixed2.format(v), v)}%`;
}

/** -1, 0 or 1: which way a change went, for colouring. */
export function direction(v) {
  if (v === null || !Number.isFinite(v) || v === 0) return 0;
  return v > 0 ? 1 : -1;
}

/**
 * A feed's producer status as a short label ('' when it is simply running
 * with nothing dropped or skipped) and a tooltip carrying the error and why
 * the latest input was skipped.
 */
export function formatStatus(status) {
  if (!status) return { label: '', title: '' };
  const parts = [];
  if (status.state !== 'running') {
    parts.push(status.restarts ? `${status.state} ×${status.restarts}` : status.state);
  }
  if (status.dropped) parts.push(`${status.dropped.toLocaleString()} dropped`);
  if (status.skipped) parts.push(`${status.skipped.toLocaleString()} skipped`);
  const title = [status.error || ''];
  if (status.skipped_reason) title.push(`last skipped: ${status.skipped_reason}`);
  return { label: parts.join(' · '), title: title.filter(Boolean).join('\n') };
}
