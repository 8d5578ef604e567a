// Small DOM helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

// Writes only what changed: even an identical textContent or disabled write
// invalidates style and layout, and the progress redraw runs ten times a second.
export function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

export function setDisabled(id, disabled) {
  const el = $(id);
  if (el.disabled !== disabled) el.disabled = disabled;
}

export const nf = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
/** 8598464 -> "8.6M" (FLOPs in the layer table). */
export const formatCompact = (n) => (Number.isFinite(n) ? compact.format(n) : '–');

/** A CSS custom property of the page (colours for canvases and inline styles). */
export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
