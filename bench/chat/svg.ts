/** A hand-written SVG chart: latency CDF curves (log-scale x) of several runs. */
export function latencyCdfSvg(
  title: string,
  series: { label: string; sorted: Float64Array }[],
  width = 720,
  height = 420,
): string {
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
  const m = { l: 60, r: 40, t: 40, b: 50 };
  const all = series.flatMap((s) => (s.sorted.length ? [s.sorted[0]!, s.sorted[s.sorted.length - 1]!] : []));
  const lo = Math.max(0.1, Math.min(...all));
  const hi = Math.max(lo * 10, ...all);
  const x0 = Math.floor(Math.log10(lo));
  const x1 = Math.ceil(Math.log10(hi));
  const px = (v: number) => m.l + ((Math.log10(Math.max(v, lo)) - x0) / (x1 - x0)) * (width - m.l - m.r);
  const py = (q: number) => height - m.b - q * (height - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>${xml(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${xml(title)}</text>`,
  ];
  for (let e = x0; e <= x1; e++) {
    const x = px(10 ** e);
    out.push(
      `<line x1="${x}" y1="${m.t}" x2="${x}" y2="${height - m.b}" stroke="#ddd"/>`,
      `<text x="${x}" y="${height - m.b + 16}" text-anchor="middle">${10 ** e} ms</text>`,
    );
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    const y = py(q);
    out.push(
      `<line x1="${m.l}" y1="${y}" x2="${width - m.r}" y2="${y}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${q * 100}%</text>`,
    );
  }
  out.push(
    `<text x="${width / 2}" y="${height - 12}" text-anchor="middle">send → receive latency (log scale)</text>`,
    `<text transform="translate(16 ${height / 2}) rotate(-90)" text-anchor="middle">messages delivered within</text>`,
  );
  series.forEach((s, i) => {
    const n = s.sorted.length;
    if (n === 0) return;
    const pts: string[] = [];
    const steps = Math.min(n, 400);
    for (let k = 0; k < steps; k++) {
      const idx = Math.floor((k / (steps - 1 || 1)) * (n - 1));
      pts.push(`${px(s.sorted[idx]!).toFixed(1)},${py((idx + 1) / n).toFixed(1)}`);
    }
    const color = colors[i % colors.length];
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`,
      `<rect x="${m.l + 12}" y="${m.t + 8 + i * 18}" width="14" height="4" fill="${color}"/>`,
      `<text x="${m.l + 32}" y="${m.t + 14 + i * 18}">${xml(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
