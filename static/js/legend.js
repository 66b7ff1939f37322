// A panel's legend, outside the plot so it never covers it: a row of chips
// for a few series, a compact scrollable list with All / None past that (see
// axes.js legendMode). Each entry is a toggle button: pressed = drawn.

import { legendMode } from './axes.js';

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A series name as [head, tail]: where the name is too long for its entry the
 * head is cut (…), the tail never, so the part that tells entries apart stays
 * (`cpu.usage_user.web1` and `.web2` read `cpu.usage_u….web1`, `….web2`, not
 * both `cpu.usage_user.w…`). The tail is the last dotted part, when short.
 */
export function nameParts(name, maxTail = 12) {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || name.length - dot > maxTail + 1) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}

export class Legend {
  /** `onChange` is called after a series was shown or hidden. */
  constructor(onChange) {
    this.onChange = onChange;
    this.hidden = new Set();   // series the viewer switched off
    this.root = el('div', 'panel-legend');
    this.root.setAttribute('role', 'group');
    this.root.addEventListener('click', (event) => this.clicked(event));
  }

  /** Rebuilds the entries: [{ name, color, unit }] in drawing order (unit: '' for none shown). */
  describe(entries, feedTitle) {
    const mode = legendMode(entries.length);
    this.root.dataset.mode = mode;
    this.root.hidden = mode === 'none';
    this.root.setAttribute('aria-label', `Series of ${feedTitle}`);
    const names = new Set(entries.map((e) => e.name));
    for (const name of this.hidden) if (!names.has(name)) this.hidden.delete(name);
    const nodes = [];
    if (mode === 'list') {
      const bar = el('div', 'legend-bar');
      bar.append(
        el('span', 'legend-count', `${entries.length} series`),
        Object.assign(el('button', 'legend-all', 'All'), { type: 'button' }),
        Object.assign(el('button', 'legend-none', 'None'), { type: 'button' }),
      );
      nodes.push(bar);
    }
    const items = el('div', 'legend-items');
    for (const { name, color, unit } of entries) {
      const button = el('button', 'legend-item');
      button.type = 'button';
      button.dataset.series = name;
      button.title = name;
      button.setAttribute('aria-pressed', String(!this.hidden.has(name)));
      const swatch = el('span', 'legend-swatch');
      swatch.style.background = color;
      const [head, tail] = nameParts(name);
      const label = el('span', 'legend-name');
      label.append(el('span', 'legend-head', head));
      if (tail) label.append(el('span', 'legend-tail', tail));
      button.append(swatch, label);
      if (unit) button.append(el('span', 'legend-unit', unit));
      items.append(button);
    }
    nodes.push(items);
    this.root.replaceChildren(...nodes);
  }

  isHidden(name) {
    return this.hidden.has(name);
  }

  clicked(event) {
    const target = event.target.closest('button');
    if (!target) return;
    const buttons = [...this.root.querySelectorAll('.legend-item')];
    if (target.classList.contains('legend-all')) this.hidden.clear();
    else if (target.classList.contains('legend-none')) for (const b of buttons) this.hidden.add(b.dataset.series);
    else if (target.dataset.series !== undefined) {
      const name = target.dataset.series;
      if (this.hidden.has(name)) this.hidden.delete(name);
      else this.hidden.add(name);
    } else return;
    for (const b of buttons) b.setAttribute('aria-pressed', String(!this.hidden.has(b.dataset.series)));
    this.onChange();
  }
}
