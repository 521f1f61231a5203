import { IngestGate } from '../src/calls/ingest-gate';
import { JobQueue } from '../src/queue/job-queue.service';
import { CALLS_QUEUE } from '../src/queue/queue.constants';
import { Scrape } from './support/prometheus';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

/**
 * While call processing is behind, PBX event posts wait before they are stored, so the
 * processing catches up; nothing is refused or lost for it.
 */
describe('ingest admission while call processing is behind', () => {
  let t: TestApp;
  let tenant: CreatedTenant;
  let gate: IngestGate;
  let jobs: JobQueue;
  let n = 0;
  const event = () => {
    const i = n++;
    return {
      id: `g-${i}`,
      callId: `gc-${i}`,
      type: 'call.ringing',
      direction: 'internal',
      from: '101',
      to: '102',
      extension: '102',
      at: new Date().toISOString(),
    };
  };
  const held = async () =>
    new Scrape((await t.request('GET', '/metrics')).text).value('hub_ingest_held_total');
  const calls = () => jobs.rawQueues().find((q) => q.name === CALLS_QUEUE)!;
  const unprocessed = async () => {
    const [row] = await t.db.query(
      'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND processed_at IS NULL',
      [tenant.id],
    );
    return Number(row.n);
  };
  /** Processing paused on this instance, and three jobs waiting: more than the limit of 2. */
  const fallBehind = async () => {
    await calls().pause(true);
    for (let i = 0; i < 3; i++) expect((await postEvents(t, tenant, event())).status).toBe(202);
    await eventually(
      () => jobs.waiting(CALLS_QUEUE),
      (w) => w >= 3,
    );
    await gate.check();
  };

  beforeAll(async () => {
    t = await startTestApp({ HUB_INGEST_BACKLOG_JOBS: '2' });
    tenant = await createTenant(t, { name: 'Gate' });
    gate = t.app.get(IngestGate);
    jobs = t.app.get(JobQueue);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('does not hold a post while processing keeps up', async () => {
    await gate.check();
    const before = await held();
    expect((await postEvents(t, tenant, event())).status).toBe(202);
    expect(await held()).toBe(before);
  });

  it('holds a post until processing caught up, then stores and processes it', async () => {
    await fallBehind();
    const before = await held();
    const post = postEvents(t, tenant, event());
    await eventually(held, (v) => v === before + 1);
    // A bad post is refused at once, not held: it names the field.
    const bad = await postEvents(t, tenant, { ...event(), type: 'call.bogus' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('type');
    expect(await held()).toBe(before + 1);
    calls().resume(true);
    const res = await post;
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0 });
    await eventually(unprocessed, (u) => u === 0, 15000);
  });

  it('stores a held post after a second at most, even while processing stays stopped', async () => {
    await fallBehind();
    const [before, heldBefore] = [await unprocessed(), await held()];
    const res = await postEvents(t, tenant, event());
    expect(res.status).toBe(202);
    expect(await held()).toBe(heldBefore + 1);
    expect(await unprocessed()).toBe(before + 1);
    calls().resume(true);
    await eventually(unprocessed, (u) => u === 0, 15000);
  });
});
