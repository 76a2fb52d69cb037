/**
 * Writes the PWA icons into public/icons/ (run: npx tsx src/app/make-icons.ts). The picture is a
 * 3×3 grid of ternary weights, −1 / 0 / +1 as three shades, on a rounded blue tile; the maskable
 * variant keeps the grid inside the 80% safe zone. PNGs are encoded here (zlib + CRC) so no image
 * tool is needed.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const outDir = join(dirname(fileURLToPath(import.meta.url)), '../../public/icons');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** RGBA pixels (row-major) → PNG bytes. */
function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, rgba.byteOffset + y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

type RGB = [number, number, number];
const TILE: RGB = [0x2f, 0x6f, 0xed];
const SHADES: Record<-1 | 0 | 1, RGB> = { [-1]: [0x0b, 0x1f, 0x4d], 0: [0x8f, 0xb2, 0xf7], 1: [0xff, 0xff, 0xff] };
const WEIGHTS: (-1 | 0 | 1)[] = [1, 0, -1, -1, 1, 0, 0, -1, 1];

/** Coverage of pixel (x, y) by a rounded rectangle, with 4×4 supersampling for smooth edges. */
function roundRectCoverage(x: number, y: number, x0: number, y0: number, x1: number, y1: number, r: number): number {
  let hits = 0;
  for (let sy = 0; sy < 4; sy++) {
    for (let sx = 0; sx < 4; sx++) {
      const px = x + (sx + 0.5) / 4;
      const py = y + (sy + 0.5) / 4;
      if (px < x0 || px > x1 || py < y0 || py > y1) continue;
      const cx = Math.min(Math.max(px, x0 + r), x1 - r);
      const cy = Math.min(Math.max(py, y0 + r), y1 - r);
      if ((px - cx) ** 2 + (py - cy) ** 2 <= r * r) hits++;
    }
  }
  return hits / 16;
}

function drawIcon(size: number, maskable: boolean): Buffer {
  const px = new Uint8Array(size * size * 4);
  const blend = (i: number, c: RGB, a: number) => {
    if (a <= 0) return;
    const oa = px[i + 3] / 255;
    const na = a + oa * (1 - a);
    for (let k = 0; k < 3; k++) px[i + k] = Math.round((c[k] * a + px[i + k] * oa * (1 - a)) / na);
    px[i + 3] = Math.round(na * 255);
  };
  // Maskable icons are cropped to a circle of 80% diameter by the OS: fill edge to edge and keep
  // the grid within the safe zone.
  const tileInset = maskable ? 0 : size * 0.06;
  const tileRadius = maskable ? 0 : size * 0.2;
  const grid = maskable ? size * 0.5 : size * 0.64;
  const gap = grid * 0.08;
  const cell = (grid - 2 * gap) / 3;
  const g0 = (size - grid) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      blend(i, TILE, roundRectCoverage(x, y, tileInset, tileInset, size - tileInset, size - tileInset, tileRadius));
      for (let k = 0; k < 9; k++) {
        const cx0 = g0 + (k % 3) * (cell + gap);
        const cy0 = g0 + Math.floor(k / 3) * (cell + gap);
        blend(i, SHADES[WEIGHTS[k]], roundRectCoverage(x, y, cx0, cy0, cx0 + cell, cy0 + cell, cell * 0.18));
      }
    }
  }
  return encodePng(size, size, px);
}

const icons: [string, number, boolean][] = [
  ['icon-192.png', 192, false],
  ['icon-512.png', 512, false],
  ['icon-maskable-512.png', 512, true],
  ['apple-touch-icon-180.png', 180, true],
  ['favicon-32.png', 32, false],
];
for (const [name, size, maskable] of icons) {
  const png = drawIcon(size, maskable);
  writeFileSync(join(outDir, name), png);
  console.log(`${name}: ${size}×${size}, ${png.length} bytes`);
}
