// axe-core in the page under test, offline: its axe.min.js comes from
// node_modules (the npm devDependency) through page.addScriptTag, never from a
// server or a CDN.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe's violations of impact serious or critical on the page as it is now,
 *  once colour transitions have settled (a button fading in after it was enabled,
 *  a theme change: axe would measure the colours halfway). */
export async function seriousViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE });
  await page.waitForFunction(() => !document.getAnimations().some((a) => a.playState === 'running'
    && /^(opacity|color|background|background-color|border-color)$/.test(a.transitionProperty ?? '')), null, { polling: 'raf', timeout: 5_000 });
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ').trim()}`),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Fails naming each serious or critical violation, its elements and axe's reasons. */
export async function assertAccessible(page, state) {
  const found = await seriousViolations(page);
  assert.deepEqual(found, [], `axe-core, ${state}: ${found.length} serious or critical violations:\n${found
    .map((v) => `  ${v.impact} ${v.id} (${v.help}):\n${v.nodes.map((n) => `    ${n}`).join('\n')}`).join('\n')}`);
}

/** The same in the light and the dark theme (prefers-color-scheme), back to light after. */
export async function assertAccessibleInBothThemes(page, state) {
  await assertAccessible(page, `${state} (light)`);
  await page.emulateMedia({ colorScheme: 'dark' });
  try {
    await assertAccessible(page, `${state} (dark)`);
  } finally {
    await page.emulateMedia({ colorScheme: 'light' });
  }
}
