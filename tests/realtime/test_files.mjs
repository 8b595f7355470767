// Files made in memory for the attachment tests and benchmarks (tests/realtime/attachments.test.mjs,
// bench/attachments/): a PNG (IHDR, tEXt, IDAT, IEND, deflated with node:zlib, our own CRC-32), a
// minimal PDF and an MP4 (`ftyp`, then an `mdat` of pseudo-random bytes).
import crypto from 'node:crypto';
import zlib from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG uses it). */
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export const SECRET_TEXT = 'secret-location-123';
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * An 8-bit RGB PNG of width x height whose pixels depend on a random 24-bit seed (so two images,
 * and their thumbnails, differ), with a tEXt chunk "GPS" = SECRET_TEXT that a thumbnail must drop.
 */
export function makePng(width, height, { seed = crypto.randomInt(1 << 24), text = { GPS: SECRET_TEXT } } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;   // bit depth
  ihdr[9] = 2;   // colour type: RGB
  ihdr[10] = 0;  // deflate
  ihdr[11] = 0;  // adaptive filtering
  ihdr[12] = 0;  // no interlace
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    raw[row] = 0;  // filter: none
    for (let x = 0; x < width; x++) {
      const p = row + 1 + x * 3;
      raw[p] = (x + (seed >>> 16)) & 0xff;
      raw[p + 1] = (y + (seed >>> 8)) & 0xff;
      raw[p + 2] = (x * 31 + y * 17 + seed) & 0xff;
    }
  }
  const texts = Object.entries(text).map(([k, v]) => pngChunk('tEXt', Buffer.from(`${k}\0${v}`, 'latin1')));
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    ...texts,
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A minimal valid one-page PDF (objects, xref table, trailer) that shows `tag` (letters and digits). */
export function makePdf(tag = `pdf${crypto.randomInt(1 << 30)}`) {
  const stream = `BT /F1 18 Tf 20 60 Td (${tag}) Tj ET\n`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}endstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** An MP4: an `ftyp` box (isom, minor 0x200, isom + mp41) then an `mdat` of pseudo-random bytes. */
export function makeMp4(mdatBytes, seed) {
  const ftyp = Buffer.alloc(0x18);
  ftyp.writeUInt32BE(0x18, 0);
  ftyp.write('ftyp', 4, 'latin1');
  ftyp.write('isom', 8, 'latin1');
  ftyp.writeUInt32BE(0x200, 12);
  ftyp.write('isom', 16, 'latin1');
  ftyp.write('mp41', 20, 'latin1');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + mdatBytes, 0);
  head.write('mdat', 4, 'latin1');
  const data = Buffer.alloc(mdatBytes);
  let x = seed | 0 || 1;
  for (let i = 0; i < mdatBytes; i++) {  // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  return Buffer.concat([ftyp, head, data]);
}

