import { CallWorkload } from '../src/calls/call-workload';
import type { ProcessCallJob } from '../src/calls/ingest.service';
import { JobQueue } from '../src/queue/job-queue.service';
import { CALLS_QUEUE } from '../src/queue/queue.constants';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

/**
 * While the instance's call worker is busy, new calls wait in the instance and leave as one
 * job when it is free: under a flood a job carries many calls. The PBX's post is answered once
 * its events are stored, without waiting for that.
 */
describe('calls held while the call workers are busy', () => {
  let t: TestApp;
  let tenant: CreatedTenant;
  let jobs: JobQueue;
  let workload: CallWorkload;
  let n = 0;
  const event = (callId: string) => ({
    id: `w-${n++}`,
    callId,
    type: 'call.ringing',
    direction: 'internal',
    from: '101',
    to: '102',
    extension: '102',
    at: new Date().toISOString(),
  });
  const calls = () => jobs.rawQueues().find((q) => q.name === CALLS_QUEUE)!;
  const unprocessed = async () => {
    const [row] = await t.db.query(
      'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND processed_at IS NULL',
      [tenant.id],
    );
    return Number(row.n);
  };

  beforeAll(async () => {
    // One worker, and a hold longer than any step of the test: only a free worker ends it.
    t = await startTestApp({ HUB_CALL_WORKERS: '1', HUB_CALL_HOLD_MS: '60000' });
    tenant = await createTenant(t, { name: 'Workload' });
    jobs = t.app.get(JobQueue);
    workload = t.app.get(CallWorkload);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('queues a call at once while a worker is free', async () => {
    expect((await postEvents(t, tenant, event('free-1'))).status).toBe(202);
    await eventually(unprocessed, (u) => u === 0, 15000);
  });

  it('holds the calls while the worker is busy, then queues them as one job', async () => {
    // The worker is kept busy for real: its job waits for a lock on the call's row.
    const blocker = t.db.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    try {
      await blocker.query('SELECT id FROM calls WHERE tenant_id = ? AND call_id = ? FOR UPDATE', [
        tenant.id,
        'free-1',
      ]);
      expect((await postEvents(t, tenant, event('free-1'))).status).toBe(202);
      await eventually(
        async () => (await calls().getActiveCount()) + (await calls().getWaitingCount()),
        (c) => c === 1,
      );
      await eventually(
        () => calls().getActiveCount(),
        (a) => a === 1,
      );
      // Nothing more is taken here; the job in hand finishes.
      await calls().pause(true, true);

      const held = ['h-1', 'h-2', 'h-3', 'h-4', 'h-5'];
      for (const callId of held) {
        const res = await postEvents(t, tenant, event(callId));
        expect(res.status).toBe(202);
        expect(res.body).toEqual({ accepted: 1, duplicates: 0 });
      }
      expect(workload.heldJobs()).toBe(1);
      expect(await calls().getWaitingCount()).toBe(0);

      await blocker.commitTransaction();
      await eventually(
        () => calls().getWaitingCount(),
        (w) => w === 1,
      );
      const [job] = (await calls().getWaiting()) as { data: ProcessCallJob }[];
      expect(job.data.calls.map((c) => c.callId).sort()).toEqual(held);
      expect(workload.heldJobs()).toBe(0);
    } finally {
      if (blocker.isTransactionActive) await blocker.rollbackTransaction();
      await blocker.release();
      await calls().resume(true);
    }
    await eventually(unprocessed, (u) => u === 0, 15000);
  });
});
