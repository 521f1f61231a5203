import { FakePbxHttp } from './support/fake-pbx-http';
import {
  CreatedTenant,
  createTenant,
  eventually,
  httpRequest,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

/** An MPEG audio frame header: 11 sync bits, or an ID3 tag in front of the frames. */
function looksLikeMp3(body: Buffer): boolean {
  if (body.subarray(0, 3).toString('latin1') === 'ID3') return true;
  return body[0] === 0xff && (body[1] & 0xe0) === 0xe0;
}

/**
 * Recording links end in .mp3 and serve MP3 (amoCRM's call-note player plays nothing
 * else): a WAV recording is transcoded with ffmpeg on the way, an MP3 one passes as it is.
 */
describe('recordings as MP3', () => {
  const pbx = new FakePbxHttp();
  let t: TestApp;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await pbx.start();
    t = await startTestApp();
    tenant = await createTenant(t, { name: 'Recordings' });
  });
  afterAll(async () => {
    await t?.close();
    await pbx.stop();
  });

  async function linkOf(callId: string, recordingUrl: string): Promise<string> {
    const at = new Date(Date.now() - 60_000).toISOString();
    await postEvents(t, tenant, {
      events: [
        {
          id: `${callId}-r`,
          callId,
          type: 'call.ringing',
          direction: 'inbound',
          from: '+79161234567',
          to: '+74957654321',
          extension: '101',
          at,
        },
        {
          id: `${callId}-e`,
          callId,
          type: 'call.ended',
          result: 'answered',
          duration: 2,
          recordingUrl,
          at,
        },
      ],
    });
    const call = await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`),
      (r) => typeof r.body?.recordingLink === 'string',
      10000,
    );
    return call.body.recordingLink as string;
  }

  async function fetchLink(link: string): Promise<{ status: number; type: string; body: Buffer }> {
    const path = new URL(link).pathname;
    const res = await fetch(`${t.url}${path}`);
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: Buffer.from(await res.arrayBuffer()),
    };
  }

  it('transcodes a WAV recording to MP3 behind a link that ends in .mp3', async () => {
    const link = await linkOf('rec-wav', `${pbx.url}/rec/call-1.wav`);
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:3000\/v1\/recordings\/[A-Za-z0-9_.-]+\.mp3$/);
    const res = await fetchLink(link);
    expect(res.status).toBe(200);
    expect(res.type).toBe('audio/mpeg');
    expect(looksLikeMp3(res.body)).toBe(true);
    // Two seconds of speech-quality mono MP3: far smaller than the 32 kB of WAV.
    expect(res.body.length).toBeGreaterThan(1000);
    expect(res.body.length).toBeLessThan(32_000);
    expect(pbx.recordingFetches).toEqual(['/rec/call-1.wav']);
  });

  it('passes an MP3 recording through unchanged', async () => {
    const link = await linkOf('rec-mp3', `${pbx.url}/rec/call-2.mp3`);
    const res = await fetchLink(link);
    expect(res.status).toBe(200);
    expect(res.type).toBe('audio/mpeg');
    expect(res.body.toString()).toBe('ID3-fake-mp3-of-/rec/call-2.mp3');
    // The link without the suffix (as issued before) still plays.
    const bare = await httpRequest(t.url, 'GET', new URL(link).pathname.replace(/\.mp3$/, ''), {
      admin: false,
    });
    expect(bare.status).toBe(200);
  });
});
