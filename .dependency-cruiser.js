/**
 * The layering of src/, checked by `npm run lint`. Rooms are listed bottom to top: a room
 * may import the rooms below it, never one above (so no two rooms import each other), and
 * connectors see only the connector SDK.
 */
const ROOMS = [
  'config',
  'connector-sdk',
  'common',
  'database',
  'observability',
  'queue',
  'tenants',
  'contacts',
  'calls',
  'recordings',
  'integrations',
  'routing',
  'pbx',
  'console',
  'retention',
];

const layerRules = ROOMS.slice(0, -1).map((room, i) => ({
  name: `${room}-imports-upward`,
  comment: `src/${room} may use ${ROOMS.slice(0, i).join(', ') || 'no other room'}; the rooms above it register themselves with it instead`,
  severity: 'error',
  from: { path: `^src/${room}/` },
  to: { path: `^src/(${ROOMS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'A cycle of imports between files, inside a room or across rooms',
      severity: 'error',
      from: { path: '^(src|connectors)/' },
      to: { circular: true },
    },
    {
      name: 'connector-imports-core',
      comment: 'Connectors import only src/connector-sdk (and npm packages)',
      severity: 'error',
      from: { path: '^connectors/' },
      to: { path: '^src/', pathNot: '^src/connector-sdk/' },
    },
    {
      name: 'sdk-imports-core',
      comment: 'The connector SDK stands alone: plugins load it without the hub',
      severity: 'error',
      from: { path: '^src/connector-sdk/' },
      to: { path: '^(src|connectors)/', pathNot: '^src/connector-sdk/' },
    },
    {
      name: 'src-imports-top',
      comment: 'Only the app root (app.module, bootstrap, main) assembles the rooms',
      severity: 'error',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/|\\.spec\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['cjs', 'es6'],
  },
};
