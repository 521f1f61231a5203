#!/usr/bin/env node
/**
 * `npm start` (and `npm run keys:rotate`): runs a file of the built hub, dist/<file>, in this
 * process, so signals reach the hub itself. It does not build: when dist is missing it says
 * so and exits 1 (`npm run build` builds, `npm run start:dev` builds and starts).
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const file = process.argv[2] || 'src/main.js';
const target = path.join(ROOT, 'dist', file);

if (!fs.existsSync(target)) {
  console.error(
    `dist/${file} is missing: the hub is not built. Run \`npm run build\` first ` +
      '(or `npm run start:dev` to build and start).',
  );
  process.exit(1);
}
process.argv.splice(1, 2, target);
require(target);
