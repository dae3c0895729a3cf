import { describe, expect, it } from 'vitest';
import { avatarColor, estimateCameraLayer, gridLayout, initials, spatialLayerFor } from './layout';

describe('gridLayout', () => {
  it('one tile fills the width of a wide box', () => {
    expect(gridLayout(1, 1600, 900, 0)).toEqual({ cols: 1, rows: 1, tileWidth: 1600, tileHeight: 900 });
  });

  it('a wide box puts two tiles side by side, a tall one stacks them', () => {
    expect(gridLayout(2, 1600, 600).cols).toBe(2);
    expect(gridLayout(2, 400, 900).cols).toBe(1);
  });

  it('nine tiles in a 16:9 box make a 3×3 grid that fits', () => {
    const g = gridLayout(9, 1600, 900, 8);
    expect([g.cols, g.rows]).toEqual([3, 3]);
    expect(g.tileWidth * 3 + 16).toBeLessThanOrEqual(1600);
    expect(g.tileHeight * 3 + 16).toBeLessThanOrEqual(900);
  });

  it('never returns a layout that overflows', () => {
    for (const n of [1, 2, 3, 5, 7, 12, 25]) {
      for (const [w, h] of [
        [1280, 620],
        [390, 700],
        [240, 900],
      ] as const) {
        const g = gridLayout(n, w, h, 8);
        expect(g.cols * g.rows).toBeGreaterThanOrEqual(n);
        expect(g.tileWidth * g.cols + 8 * (g.cols - 1)).toBeLessThanOrEqual(w);
        expect(g.tileHeight * g.rows + 8 * (g.rows - 1)).toBeLessThanOrEqual(h);
      }
    }
  });
});

describe('initials and colours', () => {
  it('takes first and last initials, or two Hangul syllables', () => {
    expect(initials('ada lovelace')).toBe('AL');
    expect(initials('  Grace  ')).toBe('G');
    expect(initials('Kim Min jun')).toBe('KJ');
    expect(initials('지민')).toBe('지민');
    expect(initials('')).toBe('?');
  });

  it('gives an identity the same colour every time', () => {
    expect(avatarColor('alice')).toBe(avatarColor('alice'));
    expect(avatarColor('alice')).toMatch(/^#[0-9a-f]{6}$/);
  });
});

describe('spatialLayerFor', () => {
  it('picks the smallest layer that fills the tile', () => {
    expect([120, 200, 201, 360, 400, 401, 1080].map(spatialLayerFor)).toEqual([0, 0, 1, 1, 1, 2, 2]);
  });
});

describe('estimateCameraLayer', () => {
  it('asks for the full layer for one other person on a large screen, less as the grid fills or the screen shrinks', () => {
    expect(estimateCameraLayer(2, { width: 1920, height: 1080, dpr: 1 })).toBe(2);
    const laptop = { width: 1440, height: 900, dpr: 1 };
    expect(estimateCameraLayer(2, laptop)).toBe(1);
    expect(estimateCameraLayer(9, laptop)).toBe(1);
    expect(estimateCameraLayer(30, laptop)).toBe(0);
    expect(estimateCameraLayer(2, { width: 390, height: 844, dpr: 1 })).toBe(0);
    // A high-density screen counts device pixels.
    expect(estimateCameraLayer(9, { ...laptop, dpr: 2 })).toBe(2);
  });
});
