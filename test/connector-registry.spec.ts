import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_CONNECTORS } from '../connectors';
import { CAPABILITIES } from '../src/connector-sdk';
import { definitionProblem } from '../src/integrations/runtime/connector-registry';

const root = join(__dirname, '..', 'connectors');
const folders = readdirSync(root).filter((name) => statSync(join(root, name)).isDirectory());

describe('connector registry', () => {
  it('registers every folder in connectors/ under an id equal to its folder name', () => {
    expect(BUILTIN_CONNECTORS.map((d) => d.id).sort()).toEqual([...folders].sort());
  });

  it.each(BUILTIN_CONNECTORS.map((d) => [d.id, d] as const))(
    '%s is a well-formed definition',
    (_id, def) => {
      expect(definitionProblem(def)).toBeNull();
      for (const c of def.capabilities) expect(CAPABILITIES).toContain(c);
    },
  );

  it('refuses malformed definitions with a reason', () => {
    expect(definitionProblem({})).toMatch(/id/);
    expect(
      definitionProblem({
        id: 'x-crm',
        displayName: 'X',
        version: '1',
        capabilities: ['telepathy'],
      }),
    ).toMatch(/capabilities/);
  });

  it('refuses a definition without an SDK v2 auth scheme, or whose key is no credential', () => {
    const [retailcrm] = BUILTIN_CONNECTORS;
    expect(definitionProblem({ ...retailcrm, auth: undefined })).toMatch(/auth must declare/);
    expect(
      definitionProblem({ ...retailcrm, auth: { type: 'apiKey', credential: 'password' } }),
    ).toMatch(/a field of its credentials schema/);
    expect(definitionProblem({ ...retailcrm, limits: { logBatch: 0 } })).toMatch(/logBatch/);
  });
});
