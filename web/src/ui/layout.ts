export interface GridLayout {
  cols: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
}

/**
 * Chooses the number of columns that gives `count` tiles of the given aspect ratio the largest size inside
 * a `width`×`height` box with `gap` pixels between tiles. Pure, so it is unit-tested.
 */
export function gridLayout(
  count: number,
  width: number,
  height: number,
  gap = 8,
  aspect = 16 / 9,
): GridLayout {
  const n = Math.max(1, count);
  let best: GridLayout = { cols: 1, rows: n, tileWidth: 0, tileHeight: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const maxW = (width - gap * (cols - 1)) / cols;
    const maxH = (height - gap * (rows - 1)) / rows;
    if (maxW <= 0 || maxH <= 0) continue;
    // Fit a tile of the aspect ratio inside the cell.
    const tileWidth = Math.min(maxW, maxH * aspect);
    const tileHeight = tileWidth / aspect;
    if (tileWidth > best.tileWidth) best = { cols, rows, tileWidth, tileHeight };
  }
  return {
    ...best,
    tileWidth: Math.floor(best.tileWidth),
    tileHeight: Math.floor(best.tileHeight),
  };
}

/** Up to two initials of a display name ("Kim Min-jun" → "KM", "지민" → "지민"). Pure. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const first = [...words[0]!];
  // Hangul names are short and have no spaces: two syllables read better than one.
  if (words.length === 1) {
    return /^[\uac00-\ud7a3]/.test(first[0]!) ? first.slice(0, 2).join('') : first[0]!.toUpperCase();
  }
  return ([...words[0]!][0]! + [...words[words.length - 1]!][0]!).toUpperCase();
}

const AVATAR_COLORS = [
  '#5b6ee1',
  '#d9534f',
  '#2e9e6a',
  '#c97a1a',
  '#8e5bd1',
  '#1f8fb3',
  '#c2457c',
  '#5f7a2a',
];

/** A stable avatar colour for an identity. Pure. */
export function avatarColor(identity: string): string {
  let hash = 0;
  for (let i = 0; i < identity.length; i++) hash = (hash * 31 + identity.charCodeAt(i)) | 0;
  return AVATAR_COLORS[Math.abs(hash) % AVATAR_COLORS.length]!;
}

/**
 * The camera simulcast layer worth receiving for a tile this many device pixels high: the layers are a
 * quarter, half and full of a 720p capture (180, 360 and 720 lines). Pure.
 */
export function spatialLayerFor(tileHeightPx: number): number {
  if (tileHeightPx <= 200) return 0;
  if (tileHeightPx <= 400) return 1;
  return 2;
}

/** Space around the meeting grid (top bar, control bar, paddings), for estimating it before it exists. */
const GRID_MARGIN = { width: 48, height: 190 };

/**
 * The camera layer a grid of `people` tiles will want in a viewport of this size, before the meeting view
 * exists (the join asks for it, so the first frame comes on the layer the grid keeps). An estimate: the
 * grid corrects it once laid out. Pure.
 */
export function estimateCameraLayer(
  people: number,
  viewport: { width: number; height: number; dpr: number },
): number {
  const g = gridLayout(people, viewport.width - GRID_MARGIN.width, viewport.height - GRID_MARGIN.height, 10);
  return spatialLayerFor(g.tileHeight * viewport.dpr);
}
