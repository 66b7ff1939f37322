// node --test: the theme's decisions (static/js/theme.js), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { parseChoice, resolveTheme, toggledChoice } from '../../static/js/theme.js';

test('no choice follows the system; a choice overrides it', () => {
  assert.equal(resolveTheme(null, true), 'dark');
  assert.equal(resolveTheme(null, false), 'light');
  assert.equal(resolveTheme('light', true), 'light');
  assert.equal(resolveTheme('dark', false), 'dark');
});

test('a URL value that is not a theme is ignored, not obeyed', () => {
  assert.equal(parseChoice('blue'), null);
  assert.equal(parseChoice(''), null);
  assert.equal(resolveTheme('DARK', false), 'light');
});

test('the toggle shows the other theme; back to the system theme drops the choice', () => {
  assert.equal(toggledChoice(null, false), 'dark');
  assert.equal(toggledChoice('dark', false), null);
  assert.equal(toggledChoice(null, true), 'light');
  assert.equal(toggledChoice('light', true), null);
  // A choice equal to the system's (kept from a link) still flips the theme.
  assert.equal(toggledChoice('light', false), 'dark');
});
