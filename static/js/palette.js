// One colour per feed, shared by its chart line and its table row, so the eye
// can go from one to the other. Chosen to read well on the dark background.
const PALETTE = [
  '#4c9aff', '#36c98e', '#f5a623', '#e5484d',
  '#a77bf3', '#2ec4d6', '#f17cb0', '#c2d94c',
];

export function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}
