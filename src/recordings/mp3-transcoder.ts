import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { execFile, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Transcodes at once at most (each takes a core for a few seconds an hour of audio). */
const MAX_RUNNING = 4;

/** True for audio a CRM's player takes as MP3 as it is. */
export function isMp3(contentType: string): boolean {
  return /^audio\/(mpeg|mp3|mpeg3|x-mpeg|x-mp3)\b/i.test(contentType);
}

/**
 * Recordings to MP3 with ffmpeg (Debian's `ffmpeg` package), streamed: amoCRM's call-note
 * player plays MP3 only, and many PBXs record WAV. The output is mono MP3 at a VBR quality
 * good for speech.
 */
@Injectable()
export class Mp3Transcoder implements OnApplicationBootstrap {
  private readonly logger = new Logger('Mp3Transcoder');
  private running = 0;
  private present: Promise<boolean> | null = null;

  /** Looks for ffmpeg at start, off the request path. */
  onApplicationBootstrap(): void {
    void this.available();
  }

  /** Whether another transcode may start now (the caller answers 503 otherwise). */
  get busy(): boolean {
    return this.running >= MAX_RUNNING;
  }

  /** Whether ffmpeg is installed (looked up once); without it recordings are served as made. */
  available(): Promise<boolean> {
    this.present ??= new Promise((resolve) => {
      execFile('ffmpeg', ['-hide_banner', '-version'], { timeout: 5000 }, (err) => {
        if (err) {
          this.logger.error(
            'ffmpeg is not installed: recordings are served as the PBX made them (apt-get install ffmpeg)',
          );
        }
        resolve(!err);
      });
    });
    return this.present;
  }

  /** The input as an MP3 stream; `input` is consumed. */
  transcode(input: Readable): Readable {
    const child = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-i',
        'pipe:0',
        '-vn',
        '-ac',
        '1',
        '-codec:a',
        'libmp3lame',
        '-q:a',
        '6',
        '-f',
        'mp3',
        'pipe:1',
      ],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    this.running++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.running--;
    };
    child.on('error', (err: Error) => {
      finish();
      this.logger.warn({ err: err.message }, 'ffmpeg failed');
      child.stdout.destroy(err);
    });
    child.on('close', finish);
    input.on('error', () => child.stdin.destroy());
    child.stdin.on('error', () => input.destroy());
    input.pipe(child.stdin);
    // The listener went away: stop reading the PBX and stop ffmpeg.
    child.stdout.on('close', () => {
      input.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    return child.stdout;
  }
}
