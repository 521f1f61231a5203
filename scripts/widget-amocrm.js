#!/usr/bin/env node
/**
 * npm run widget:amocrm: builds the amoCRM marketplace widget from connectors/amocrm/widget
 * into dist/amocrm-widget/ and dist/amocrm-widget.zip (files at the archive's root, as amoCRM
 * wants them): manifest.json, script.js, i18n/ru.json and en.json, and the logo images,
 * drawn here so the repository holds no binaries. Checks that every i18n key the manifest
 * names exists in every locale.
 */
'use strict';
const { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const zlib = require('node:zlib');

const ROOT = join(__dirname, '..');
const SOURCE = join(ROOT, 'connectors/amocrm/widget');
const OUT_DIR = join(ROOT, 'dist/amocrm-widget');
const OUT_ZIP = join(ROOT, 'dist/amocrm-widget.zip');

/** The sizes amoCRM asks for, in pixels. */
const LOGOS = {
  'images/logo_min.png': [84, 84],
  'images/logo_small.png': [108, 108],
  'images/logo.png': [130, 100],
  'images/logo_medium.png': [240, 84],
  'images/logo_main.png': [400, 272],
};

function crc(buffer) {
  return zlib.crc32(buffer) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc(body));
  return Buffer.concat([length, body, sum]);
}

/** A PNG of the hub's mark: a blue rounded field with a white handset-like bar. */
function logo(width, height) {
  const rows = [];
  const r = Math.round(Math.min(width, height) * 0.18);
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 4);
    for (let x = 0; x < width; x++) {
      const dx = Math.max(r - x, x - (width - 1 - r), 0);
      const dy = Math.max(r - y, y - (height - 1 - r), 0);
      const inside = dx * dx + dy * dy <= r * r;
      const bar = Math.abs(y - height / 2) < height * 0.09 && Math.abs(x - width / 2) < width * 0.3;
      const o = 1 + x * 4;
      const [red, green, blue] = bar ? [255, 255, 255] : [31, 111, 235];
      row[o] = red;
      row[o + 1] = green;
      row[o + 2] = blue;
      row[o + 3] = inside ? 255 : 0;
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A zip archive (deflate), entries in the given order. */
function zip(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, data] of files) {
    const packed = zlib.deflateRawSync(data);
    const nameBuf = Buffer.from(name, 'utf8');
    const sum = crc(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12); // 1980-01-01: a reproducible archive
    local.writeUInt32LE(sum, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(sum, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, packed);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

function lookup(object, path) {
  return path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), object);
}

function build() {
  const manifest = JSON.parse(readFileSync(join(SOURCE, 'manifest.json'), 'utf8'));
  const locales = manifest.widget.locale;
  const i18n = {};
  for (const locale of locales) {
    i18n[locale] = JSON.parse(readFileSync(join(SOURCE, 'i18n', `${locale}.json`), 'utf8'));
  }
  const keys = [
    manifest.widget.name,
    manifest.widget.description,
    manifest.widget.short_description,
    ...Object.values(manifest.settings ?? {}).map((s) => s.name),
  ];
  for (const locale of locales) {
    for (const key of keys) {
      if (typeof lookup(i18n[locale], key) !== 'string') {
        throw new Error(`i18n/${locale}.json has no "${key}", which manifest.json names`);
      }
    }
  }
  const files = [
    ['manifest.json', readFileSync(join(SOURCE, 'manifest.json'))],
    ['script.js', readFileSync(join(SOURCE, 'script.js'))],
    ...readdirSync(join(SOURCE, 'i18n'))
      .sort()
      .map((f) => [`i18n/${f}`, readFileSync(join(SOURCE, 'i18n', f))]),
    ...Object.entries(LOGOS).map(([name, [w, h]]) => [name, logo(w, h)]),
  ];
  rmSync(OUT_DIR, { recursive: true, force: true });
  for (const [name, data] of files) {
    mkdirSync(dirname(join(OUT_DIR, name)), { recursive: true });
    writeFileSync(join(OUT_DIR, name), data);
  }
  writeFileSync(OUT_ZIP, zip(files));
  return { dir: OUT_DIR, zip: OUT_ZIP, files: files.map(([name]) => name) };
}

module.exports = { build };

if (require.main === module) {
  const out = build();
  console.log(`written ${out.zip} (${out.files.length} files) and ${out.dir}/`);
}
