// The drawing pad's picture as the network's input: no DOM, no canvas, so Node
// tests it (tests/browser/draw-input.test.js).
//
// MNIST-style preprocessing, as in LeCun's preparation of the data set: crop to
// the ink, scale the longer side to 20 px (aspect kept; area averaging), place
// it in the 28x28 frame, then shift it so its center of mass is at the center.
// Other input sizes scale the same proportions (20/28 of the side); every
// channel gets the gray.

const INK = 20; // a pad pixel above this (0..255) is ink

/** Per target cell of `n` over a source span of `len` pixels: [first source
 *  index, weights] where the weights are each source pixel's overlap / cell size. */
function boxWeights(len, n) {
  const s = len / n;
  const out = [];
  for (let i = 0; i < n; i++) {
    const a = i * s, b = (i + 1) * s;
    const first = Math.floor(a);
    const w = [];
    for (let j = first; j < Math.min(len, Math.ceil(b)); j++) w.push((Math.min(b, j + 1) - Math.max(a, j)) / s);
    out.push([first, w]);
  }
  return out;
}

/**
 * image: { data, width, height } with 4 bytes per pixel (an ImageData; the red
 * channel is read: white ink on black). input: the model's [c, h, w].
 * Returns { pixels: Float32Array(c*h*w) of 0..1, gray: Uint8ClampedArray(h*w) },
 * or null when nothing is drawn.
 */
export function drawingToInput(image, [C, H, W]) {
  const { data: src, width: PW, height: PH } = image;
  let x0 = PW, y0 = PH, x1 = -1, y1 = -1;
  for (let y = 0; y < PH; y++) {
    for (let x = 0; x < PW; x++) {
      if (src[(y * PW + x) * 4] > INK) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = (20 * Math.min(H, W)) / 28 / Math.max(bw, bh); // 20 / max(bw, bh) for 28x28
  const w = Math.min(W, Math.max(1, Math.round(bw * scale))), h = Math.min(H, Math.max(1, Math.round(bh * scale)));

  // The ink's box, area-averaged down to w x h, placed in the middle of H x W.
  const wx = boxWeights(bw, w), wy = boxWeights(bh, h);
  const ox = Math.floor((W - w) / 2), oy = Math.floor((H - h) / 2);
  const placed = new Float64Array(H * W);
  for (let ty = 0; ty < h; ty++) {
    const [fy, wys] = wy[ty];
    for (let tx = 0; tx < w; tx++) {
      const [fx, wxs] = wx[tx];
      let v = 0;
      for (let j = 0; j < wys.length; j++) {
        const row = (y0 + fy + j) * PW;
        let r = 0;
        for (let i = 0; i < wxs.length; i++) r += wxs[i] * src[(row + x0 + fx + i) * 4];
        v += wys[j] * r;
      }
      placed[(oy + ty) * W + ox + tx] = v;
    }
  }

  // Center of mass to the center (whole pixels, zeros shifted in).
  let mass = 0, mx = 0, my = 0;
  for (let i = 0; i < H * W; i++) {
    mass += placed[i];
    mx += placed[i] * (i % W);
    my += placed[i] * Math.floor(i / W);
  }
  const dx = Math.round((W - 1) / 2 - mx / mass), dy = Math.round((H - 1) / 2 - my / mass);
  const gray = new Uint8ClampedArray(H * W);
  for (let y = 0; y < H; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= H) continue;
    for (let x = 0; x < W; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < W) gray[y * W + x] = Math.round(placed[sy * W + sx]);
    }
  }
  const plane = H * W;
  const pixels = new Float32Array(C * plane);
  for (let c = 0; c < C; c++) for (let i = 0; i < plane; i++) pixels[c * plane + i] = gray[i] / 255;
  return { pixels, gray };
}

/** Whether the drawing pad suits a model: single-channel 28x28 input (MNIST's). */
export const padFits = (input) => !!input && input.length === 3 && input[0] === 1 && input[1] === 28 && input[2] === 28;
