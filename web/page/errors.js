// The error banner: a title, the reason in words, and at most one action
// (e.g. "Download checkpoint" when the storage is full).
import { $ } from './dom.js';

let errorAction = null;

export function showError(title, text, action = null) {
  $('error-title').textContent = title;
  $('error-text').textContent = text;
  errorAction = action;
  $('error-action').hidden = !action;
  if (action) $('error-action').textContent = action.label;
  $('error').hidden = false;
}

export function clearError() {
  $('error').hidden = true;
  errorAction = null;
}

$('error-close').addEventListener('click', clearError);
$('error-action').addEventListener('click', () => errorAction?.run());

/** Error messages from the worker arrive as Error objects with the trainer's text. */
export const messageOf = (e) => String(e?.message ?? e).replace(/^Error: /, '');
