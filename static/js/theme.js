// Light and dark: the page follows the system's prefers-color-scheme unless the
// person chose otherwise with the toggle; the choice lives in the URL key
// `theme` (light|dark, absent = follow the system), so a link or a reload
// keeps it. style.css holds the colours (light-dark() under `color-scheme`);
// charts read them resolved through chartColors(), never hard-coded.
//
// The decisions (resolveTheme, toggledChoice) are pure; the rest touches the
// DOM only when called, so node --test can import this module.

export const THEME_KEY = 'theme';
const THEMES = ['light', 'dark'];

/** The URL's choice: 'light', 'dark', or null (follow the system; also for junk). */
export function parseChoice(value) {
  return THEMES.includes(value) ? value : null;
}

/** The theme shown: the person's choice, else what the system prefers. */
export function resolveTheme(choice, systemPrefersDark) {
  return parseChoice(choice) ?? (systemPrefersDark ? 'dark' : 'light');
}

/**
 * The choice after one press of the toggle: the other theme, kept only when it
 * differs from the system's; toggling back to what the system prefers follows
 * the system again (null), so the URL stays clean for most people.
 */
export function toggledChoice(choice, systemPrefersDark) {
  const next = resolveTheme(choice, systemPrefersDark) === 'dark' ? 'light' : 'dark';
  return next === resolveTheme(null, systemPrefersDark) ? null : next;
}

// The CSS variables charts use; resolved once per theme (getComputedStyle
// forces a style pass, too dear per chart per frame).
const CHART_VARS = {
  ink: '--muted',
  text: '--text',
  grid: '--border',
  surface: '--surface',
  hover: '--surface-2',
  up: '--up',
  down: '--down',
  warn: '--warn',
};
let colors = null;
const listeners = new Set();
let system = null; // the prefers-color-scheme: dark MediaQueryList

/**
 * The theme's colours as Plotly takes them ("rgb(…)"): a probe element
 * resolves light-dark() and var() the way the page paints them.
 */
export function chartColors() {
  if (colors) return colors;
  const probe = document.createElement('span');
  probe.hidden = true;
  document.body.append(probe);
  colors = {};
  for (const [key, variable] of Object.entries(CHART_VARS)) {
    probe.style.color = `var(${variable})`;
    colors[key] = getComputedStyle(probe).color;
  }
  probe.remove();
  return colors;
}

/** Calls `callback(theme)` whenever the shown theme changes (toggle or system). */
export function onThemeChange(callback) {
  listeners.add(callback);
}

function urlChoice() {
  return parseChoice(new URLSearchParams(location.search).get(THEME_KEY));
}

/** The theme shown now: 'light' or 'dark'. */
export function currentTheme() {
  return document.documentElement.dataset.theme;
}

function apply(button) {
  const theme = resolveTheme(urlChoice(), system.matches);
  const changed = document.documentElement.dataset.theme !== theme;
  // color-scheme (style.css) picks each light-dark() colour, the native
  // controls' and scrollbars' look included.
  document.documentElement.dataset.theme = theme;
  if (button) {
    button.setAttribute('aria-pressed', String(theme === 'dark'));
    button.title = `Switch to the ${theme === 'dark' ? 'light' : 'dark'} theme`;
  }
  if (!changed) return;
  colors = null;
  for (const callback of listeners) callback(theme);
}

/**
 * Shows the chosen (or the system's) theme now and wires the toggle `button`.
 * Writes only its own URL key (history.replaceState), keeping every other.
 */
export function initTheme(button) {
  system = matchMedia('(prefers-color-scheme: dark)');
  system.addEventListener('change', () => apply(button));
  apply(button);
  button?.addEventListener('click', () => {
    const params = new URLSearchParams(location.search);
    const choice = toggledChoice(urlChoice(), system.matches);
    if (choice) params.set(THEME_KEY, choice);
    else params.delete(THEME_KEY);
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
    apply(button);
  });
}
