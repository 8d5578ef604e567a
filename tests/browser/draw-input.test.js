// The drawing pad's conversion to the network's input (web/page/draw-input.js),
// in Node: it is pure (no DOM, no canvas).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawingToInput, padFits } from '../../web/page/draw-input.js';

/** A black 280x280 RGBA pad with white rectangles [x, y, w, h]. */
function pad(rects, size = 280) {
  const data = new Uint8ClampedArray(size * size * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  for (const [x0, y0, w, h] of rects) {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data.fill(255, (y * size + x) * 4, (y * size + x) * 4 + 3);
  }
  return { data, width: size, height: size };
}

/** Ink box and center of mass of a gray h x w image. */
function measure(gray, w) {
  let mass = 0, mx = 0, my = 0, x0 = w, x1 = -1, y0 = Infinity, y1 = -1;
  gray.forEach((v, i) => {
    if (!v) return;
    const x = i % w, y = Math.floor(i / w);
    mass += v; mx += v * x; my += v * y;
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  });
  return { width: x1 - x0 + 1, height: y1 - y0 + 1, cx: mx / mass, cy: my / mass, mass };
}

test('nothing drawn gives null', () => {
  assert.equal(drawingToInput(pad([]), [1, 28, 28]), null);
});

test('a stroke in a corner is scaled to 20 px and centred by its mass, like MNIST', () => {
  // A tall bar (40 x 200) in the top-left corner.
  const r = drawingToInput(pad([[10, 10, 40, 200]]), [1, 28, 28]);
  assert.equal(r.pixels.length, 28 * 28);
  const m = measure(r.gray, 28);
  assert.equal(m.height, 20, 'the longer side becomes 20 px');
  assert.ok(m.width >= 4 && m.width <= 5, `aspect kept: width ${m.width}`);
  assert.ok(Math.abs(m.cx - 13.5) <= 0.5 && Math.abs(m.cy - 13.5) <= 0.5, `centre of mass ${m.cx}, ${m.cy}`);
  // Full ink inside the bar: area averaging keeps it at (nearly) 255.
  assert.ok(Math.max(...r.gray) >= 250);
  assert.ok(r.pixels.every((v) => v >= 0 && v <= 1));
  assert.equal(r.pixels[14 * 28 + 14], r.gray[14 * 28 + 14] / 255);
});

test('the same drawing anywhere on the pad gives the same input', () => {
  const a = drawingToInput(pad([[20, 30, 60, 120], [20, 150, 120, 30]]), [1, 28, 28]);
  const b = drawingToInput(pad([[150, 90, 60, 120], [150, 210, 120, 30]]), [1, 28, 28]);
  assert.deepEqual(a.gray, b.gray);
});

test('other input shapes: every channel gets the gray, sizes scale with the side', () => {
  const r = drawingToInput(pad([[100, 40, 30, 200]]), [3, 32, 32]);
  assert.equal(r.pixels.length, 3 * 32 * 32);
  const plane = 32 * 32;
  for (let i = 0; i < plane; i++) {
    assert.equal(r.pixels[i], r.pixels[plane + i]);
    assert.equal(r.pixels[i], r.pixels[2 * plane + i]);
  }
  assert.equal(measure(r.gray, 32).height, Math.round((20 * 32) / 28));
});

test('the pad is offered for single-channel 28x28 models only', () => {
  assert.equal(padFits([1, 28, 28]), true);
  assert.equal(padFits([3, 32, 32]), false);
  assert.equal(padFits([1, 32, 32]), false);
  assert.equal(padFits(undefined), false);
});
