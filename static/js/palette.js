// One colour per feed, shared by its chart line and its table row, so the eye
// can go from one to the other. Chosen to read well on the dark background.
const PALETTE = [
  '#4c9aff', '#36c98e', '#f5a623', '#e5484d',
  '#a77bf3', '#2ec4d6', '#f17cb0', '#c2d94c',
];

export function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}

// Beside candles green and red mean up and down: lines there skip the
// palette's green and red.
const UP_DOWN = new Set([1, 3]);

/** Colours for a panel's `count` lines, from the feed's own colour on. */
export function lineColors(index, count, besideCandles = false) {
  const colors = [];
  for (let k = index; colors.length < count; k += 1) {
    if (!(besideCandles && UP_DOWN.has(k % PALETTE.length))) colors.push(colorOf(k));
  }
  return colors;
}
