#!/usr/bin/env node
/**
 * Scaffolds a connector: `npm run connector:new -- <id>` copies scripts/connector-template/*.tmpl
 * into connectors/<id>/ with the id and names filled in. It does not register the connector:
 * a scaffold is red on purpose, and registering it is the author's deliberate last step.
 */
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TEMPLATE_DIR = path.join(__dirname, 'connector-template');
const CONNECTORS_DIR = path.join(ROOT, 'connectors');
// Same rule as the hub's connector registry.
const ID_PATTERN = /^[a-z][a-z0-9-]{1,40}$/;

function fail(message) {
  console.error(`connector:new: ${message}`);
  process.exit(1);
}

function words(id) {
  return id.split('-').filter(Boolean);
}

function names(id) {
  const parts = words(id);
  const pascal = parts.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  return {
    __ID__: id,
    __CLASS__: pascal,
    __CAMEL__: pascal[0].toLowerCase() + pascal.slice(1),
    __NAME__: parts.map((w) => w[0].toUpperCase() + w.slice(1)).join(' '),
  };
}

/** "connector.ts.tmpl" → "<id>.connector.ts"; index and README keep their names. */
function targetName(template, id) {
  const base = template.replace(/\.tmpl$/, '');
  return base === 'index.ts' || base === 'README.md' ? base : `${id}.${base}`;
}

/** Long ids push template lines past the print width; the project's Prettier re-wraps them. */
function formatIfPossible(dir) {
  let bin;
  try {
    bin = require.resolve('prettier/bin/prettier.cjs', { paths: [ROOT] });
  } catch {
    return;
  }
  spawnSync(process.execPath, [bin, '--write', '--log-level', 'warn', dir], { stdio: 'inherit' });
}

function main(args) {
  // --into <dir> writes the folder elsewhere than connectors/ (the scaffold's own test does).
  const at = args.indexOf('--into');
  const into = at >= 0 ? args[at + 1] : undefined;
  const argv = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
  if (at >= 0 && !into) fail('--into needs a folder');
  const id = argv[0];
  if (!id || argv.length > 1) fail('usage: npm run connector:new -- <id>   (e.g. mycrm)');
  if (!ID_PATTERN.test(id) || id.endsWith('-') || id.includes('--')) {
    fail(
      `bad id "${id}": lower-case letters, digits and single "-", starting with a letter, 2..41 chars`,
    );
  }
  const target = path.join(into ? path.resolve(into) : CONNECTORS_DIR, id);
  if (fs.existsSync(target))
    fail(`connectors/${id} already exists; pick another id or remove it first`);

  const substitutions = names(id);
  const templates = fs.readdirSync(TEMPLATE_DIR).filter((f) => f.endsWith('.tmpl'));
  fs.mkdirSync(target, { recursive: true });
  for (const template of templates) {
    let text = fs.readFileSync(path.join(TEMPLATE_DIR, template), 'utf8');
    for (const [token, value] of Object.entries(substitutions))
      text = text.split(token).join(value);
    fs.writeFileSync(path.join(target, targetName(template, id)), text, { flag: 'wx' });
  }

  formatIfPossible(target);

  const { __CAMEL__: camel } = substitutions;
  console.log(`Created connectors/${id}/:`);
  for (const name of templates.map((t) => targetName(t, id)).sort()) console.log(`  ${name}`);
  console.log(`
Next steps (docs/connectors.md walks through each):
  1. Write ${id}.sandbox.ts from the CRM's wire facts and seed the conformance fixture.
  2. Run the suite, red for now:  npx jest connectors/${id}
  3. Implement ${id}.client.ts, ${id}.errors.ts and ${id}.connector.ts until it is green;
     add exact-request tests to ${id}.connector.spec.ts.
  4. Register it with one line in connectors/index.ts:
       import { ${camel}Connector } from './${id}';
     and add ${camel}Connector to BUILTIN_CONNECTORS.
  5. Fill in README.md (setup in the CRM, capabilities, limits).`);
}

main(process.argv.slice(2));
