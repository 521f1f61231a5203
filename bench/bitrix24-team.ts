import { Bitrix24Sandbox } from '../connectors/bitrix24/bitrix24.sandbox';
import { httpRequest } from '../test/support/test-app';

export interface TeamFigures {
  calls: number;
  finished: number;
  popP50Ms: number;
  popP99Ms: number;
  popMaxMs: number;
  burstMaxMs: number;
  beforeSecondRing: number;
  requestsPerCall: number;
  /** Requests by method, batches by their commands' methods. */
  byMethod: string;
  rejections: number;
  maxLevel: number;
  allFinishedS: number;
}

/** Bitrix24 rings the second time 5 s after the first (1 s on, 4 s off). */
const SECOND_RING_MS = 5000;
const AGENTS = 50;
const SUSTAINED_S = 60;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** "batch(register+show) 60, user.get 1, …": what the portal was asked, most first. */
function methodCounts(b24: Bitrix24Sandbox): string {
  const counts = new Map<string, number>();
  for (const r of b24.requests) {
    const req = r as { restMethod?: string; params?: { cmd?: Record<string, string> } };
    if (!req.restMethod) continue;
    const name =
      req.restMethod === 'batch'
        ? `batch(${[...new Set(Object.values(req.params?.cmd ?? {}).map((c) => c.split('?')[0].replace('telephony.externalcall.', '').replace('telephony.externalCall.', '')))].join('+')})`
        : req.restMethod;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * f. A 50-agent team on a standard Bitrix24 plan (2 req/s drain, 50 at once): a morning
 * burst of 50 calls ringing at once (each to its client's manager), then a call a second for
 * a minute ringing groups of three (3.6 times what 50 agents at full occupancy with 3-minute
 * calls take). Ringing accepted by the hub → card registered and shown in the portal, and
 * every call finished, with the portal never refusing a request.
 */
export async function bitrix24Team(hubUrl: string, latencyMs: () => number): Promise<TeamFigures> {
  const b24 = new Bitrix24Sandbox({ latencyMs, recordRequests: true });
  for (let i = 0; i < AGENTS; i++) {
    b24.addUser({ id: 100 + i, name: `Agent ${i}`, extension: String(201 + i) });
  }
  const client = (i: number) => `+7903${String(1000000 + i)}`;
  for (let i = 0; i < 200; i++) {
    b24.addContact({
      id: 5000 + i,
      name: `Client ${i}`,
      phones: [client(i)],
      assignedById: 100 + (i % AGENTS),
    });
  }
  await b24.start();
  try {
    const tenant = (
      await httpRequest(hubUrl, 'POST', '/v1/tenants', { body: { name: 'Bench Bitrix24' } })
    ).body as { id: string; apiKey: string };
    const integ = await httpRequest(hubUrl, 'POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'bitrix24',
        config: { portalUrl: b24.url, oauthUrl: b24.url },
        credentials: { clientId: b24.clientId, clientSecret: b24.clientSecret },
      },
    });
    const id = (integ.body as { id: string }).id;
    const installed = await b24.install(`${hubUrl}/v1/crm/bitrix24/${id}/install`);
    if (installed.status !== 200) throw new Error(`install: ${installed.status} ${installed.body}`);
    while (b24.bindings().length === 0) await sleep(100);
    await sleep(1000);
    b24.clearRequests();
    const requestsBefore = b24.restRequests();

    const headers = { 'content-type': 'application/json', 'x-api-key': tenant.apiKey };
    const accepted = new Map<string, number>();
    const post = (events: Record<string, unknown>[]) =>
      httpRequest(hubUrl, 'POST', `/v1/pbx/${tenant.id}/events`, { body: { events }, headers });
    const ring = async (callId: string, from: string, extensions: string[]) => {
      const at = new Date().toISOString();
      await post(
        extensions.map((extension, k) => ({
          id: `${callId}-r${k}`,
          callId,
          type: 'call.ringing',
          direction: 'inbound',
          from,
          to: '+74957654321',
          extension,
          at,
        })),
      );
      accepted.set(callId, Date.now());
    };
    const finish = (callId: string, extension: string, talkS: number) =>
      sleep(3000)
        .then(() =>
          post([
            {
              id: `${callId}-a`,
              callId,
              type: 'call.answered',
              extension,
              at: new Date().toISOString(),
            },
          ]),
        )
        .then(() => sleep(talkS * 1000))
        .then(() =>
          post([
            {
              id: `${callId}-e`,
              callId,
              type: 'call.ended',
              result: 'answered',
              duration: talkS,
              at: new Date().toISOString(),
            },
          ]),
        );

    const t0 = Date.now();
    const ends: Promise<unknown>[] = [];
    const burst: string[] = [];
    await Promise.all(
      Array.from({ length: AGENTS }, async (_, i) => {
        const callId = `bx-m-${i}`;
        burst.push(callId);
        await ring(callId, client(i), [String(201 + i)]);
        ends.push(finish(callId, String(201 + i), 7));
      }),
    );
    for (let s = 0; s < SUSTAINED_S; s++) {
      const callId = `bx-s-${s}`;
      const group = [0, 1, 2].map((k) => String(201 + ((s * 3 + k) % AGENTS)));
      await ring(callId, client(50 + (s % 150)), group);
      ends.push(finish(callId, group[0], 5 + (s % 15)));
      await sleep(Math.max(0, t0 + (s + 1) * 1000 + 5000 - Date.now()));
    }
    await Promise.all(ends);
    const calls = accepted.size;
    while (b24.statistics().length < calls && Date.now() - t0 < 300_000) await sleep(250);
    const allFinishedS = (Date.now() - t0) / 1000;

    const shownAt = new Map<string, number>();
    for (const c of b24.calls()) shownAt.set(c.externalCallId, c.registeredAt);
    const lat = [...accepted].map(([callId, at]) => (shownAt.get(callId) ?? Infinity) - at);
    const burstLat = burst.map(
      (callId) => (shownAt.get(callId) ?? Infinity) - (accepted.get(callId) ?? 0),
    );
    return {
      calls,
      finished: b24.statistics().length,
      popP50Ms: percentile(lat, 50),
      popP99Ms: percentile(lat, 99),
      popMaxMs: Math.max(...lat),
      burstMaxMs: Math.max(...burstLat),
      beforeSecondRing: lat.filter((l) => l <= SECOND_RING_MS).length,
      requestsPerCall: (b24.restRequests() - requestsBefore) / calls,
      byMethod: methodCounts(b24),
      rejections: b24.rateLimitRejections,
      maxLevel: b24.maxPerSecondObserved('portal'),
      allFinishedS,
    };
  } finally {
    await b24.stop();
  }
}
