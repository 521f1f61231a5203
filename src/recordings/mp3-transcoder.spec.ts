import { PassThrough } from 'node:stream';
import { isMp3, Mp3Transcoder } from './mp3-transcoder';

describe('Mp3Transcoder', () => {
  it('tells MP3 from other audio by content type', () => {
    expect(['audio/mpeg', 'audio/mp3', 'audio/MPEG; charset=binary'].map(isMp3)).toEqual([
      true,
      true,
      true,
    ]);
    expect(['audio/wav', 'audio/x-wav', 'application/octet-stream'].map(isMp3)).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('runs at most four ffmpeg at once, and frees a place when a listener goes away', async () => {
    const transcoder = new Mp3Transcoder();
    expect(await transcoder.available()).toBe(true);
    // Inputs that never end: each ffmpeg keeps running until its output is dropped.
    const outputs = Array.from({ length: 4 }, () => transcoder.transcode(new PassThrough()));
    expect(transcoder.busy).toBe(true);
    const closed = new Promise((resolve) => outputs[0].once('close', resolve));
    outputs[0].destroy();
    await closed;
    // ffmpeg is killed and its exit frees the place.
    for (let i = 0; i < 100 && transcoder.busy; i++) await new Promise((r) => setTimeout(r, 50));
    expect(transcoder.busy).toBe(false);
    for (const out of outputs.slice(1)) out.destroy();
  });
});
