// The view toolbar: time window, Pause/Resume with "N new", Live, and the
// feed/series picker with search. Changes go to the shared view (view.js)
// and to the URL (urlstate.js), so a link or a reload reproduces them.

import { WINDOWS, writeView } from './urlstate.js';

const WINDOW_LABELS = { '1m': '1m', '5m': '5m', '15m': '15m', '1h': '1h', all: 'All' };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

export class Controls {
  /** root: the toolbar element; onChange(): the charts must redraw. */
  constructor(root, view, charts, onChange) {
    this.root = root;
    this.view = view;
    this.charts = charts;
    this.onChange = onChange;
    this.pickedMeta = -1;      // the state.metaVersion the picker lists
    this.received = 0;
    this.build();
  }

  build() {
    const windows = el('div', { className: 'vb-windows', role: 'group', ariaLabel: 'Time window' });
    this.windowButtons = WINDOWS.map((key) => {
      const button = el('button', { type: 'button', textContent: WINDOW_LABELS[key] });
      button.dataset.window = key;
      button.addEventListener('click', () => this.change(() => this.view.setWindow(key)));
      windows.append(button);
      return button;
    });
    this.pauseButton = el('button', { type: 'button', className: 'vb-pause' });
    this.pauseButton.addEventListener('click', () => this.change(() => (
      this.view.paused ? this.view.resume() : this.view.pause(this.received))));
    this.newCount = el('span', { className: 'vb-new', role: 'status' });
    this.liveButton = el('button', { type: 'button', className: 'vb-live', textContent: 'Live', hidden: true });
    this.liveButton.title = 'Back to the live edge on every zoomed chart';
    this.liveButton.addEventListener('click', () => this.change(() => this.view.live()));

    this.search = el('input', { type: 'search', placeholder: 'Search feeds and series', className: 'vb-search' });
    this.search.setAttribute('aria-label', 'Search feeds and series');
    this.search.addEventListener('input', () => this.filterPicks());
    this.feedList = el('fieldset', { className: 'vb-picks' }, el('legend', { textContent: 'Feeds' }));
    this.seriesList = el('fieldset', { className: 'vb-picks' }, el('legend', { textContent: 'Series' }));
    const showAll = el('button', { type: 'button', textContent: 'Show all' });
    showAll.addEventListener('click', () => this.change(() => {
      this.view.feeds = null;
      this.view.series = null;
      this.pickedMeta = -1;
    }));
    this.pickSummary = el('summary');
    this.picker = el('details', { className: 'vb-picker' }, this.pickSummary,
      el('div', { className: 'vb-panel' }, this.search, this.feedList, this.seriesList, showAll));
    this.noteEl = el('span', { className: 'vb-note', role: 'status' });
    this.root.append(windows, this.pauseButton, this.newCount, this.liveButton, this.noteEl, this.picker);
  }

  /** Says, in one line, what of the URL the page could not show (cleared on the next change). */
  note(ignored) {
    this.noteEl.textContent = ignored.length
      ? `Ignored ${ignored.join(', ')}: not a view this page has (windows: 1m, 5m, 15m, 1h, all; paused=1)`
      : '';
  }

  /** Applies a change to the view, writes the URL, and asks for a redraw. */
  change(apply) {
    apply();
    this.note([]);
    this.view.changed();
    const search = writeView(location.search, this.view);
    history.replaceState(history.state, '', `${location.pathname}${search}${location.hash}`);
    for (const panel of this.charts.panels.values()) panel.invalidate();
    this.onChange();
  }

  /** Every frame: cheap text and attribute updates only when they differ. */
  render(state) {
    this.received = state.received;
    const view = this.view;
    if (state.received > 0 && !this.charts.firstPaintPending(state)) view.settle(state.received);
    for (const button of this.windowButtons) {
      const pressed = String(button.dataset.window === view.window);
      if (button.getAttribute('aria-pressed') !== pressed) button.setAttribute('aria-pressed', pressed);
    }
    const label = view.paused ? 'Resume' : 'Pause';
    if (this.pauseButton.textContent !== label) this.pauseButton.textContent = label;
    this.pauseButton.setAttribute('aria-pressed', String(view.paused));
    const n = view.newSince(state.received);
    const text = view.paused ? `${n.toLocaleString()} new` : '';
    if (this.newCount.textContent !== text) this.newCount.textContent = text;
    const detached = view.detached.size > 0;
    if (this.liveButton.hidden === detached) this.liveButton.hidden = !detached;
    if (this.pickedMeta !== state.metaVersion) this.listPicks(state);
    this.showPanels();
  }

  showPanels() {
    let shown = 0;
    for (const [name, panel] of this.charts.panels) {
      const hidden = !this.view.showsFeed(name) || (panel.series && this.view.pickSeries(panel.series).length === 0);
      if (!hidden) shown += 1;
      if (panel.root.hidden !== hidden) {
        panel.root.hidden = hidden;
        if (!hidden) panel.invalidate();
      }
    }
    const text = `Feeds ${shown}/${this.charts.panels.size}`;
    if (this.pickSummary.textContent !== text) this.pickSummary.textContent = text;
  }

  listPicks(state) {
    this.pickedMeta = state.metaVersion;
    const feeds = [...state.feeds.values()].filter((f) => f.meta);
    const seriesNames = [...new Set(feeds.flatMap((f) => f.meta.series.filter((s) => s.plot).map((s) => s.name)))];
    this.fillList(this.feedList, feeds.map((f) => f.name), 'feeds');
    this.fillList(this.seriesList, seriesNames, 'series');
    this.filterPicks();
  }

  fillList(fieldset, names, key) {
    for (const label of fieldset.querySelectorAll('label')) label.remove();
    for (const name of names) {
      const box = el('input', { type: 'checkbox', checked: this.view[key] === null || this.view[key].includes(name) });
      box.dataset.name = name;
      box.addEventListener('change', () => this.change(() => {
        const checked = [...fieldset.querySelectorAll('input:checked')].map((b) => b.dataset.name);
        this.view[key] = checked.length === names.length ? null : checked;
      }));
      fieldset.append(el('label', {}, box, el('span', { textContent: name })));
    }
  }

  filterPicks() {
    const needle = this.search.value.trim().toLowerCase();
    for (const label of this.picker.querySelectorAll('label')) {
      label.hidden = needle !== '' && !label.textContent.toLowerCase().includes(needle);
    }
  }
}
