import {
  Controller,
  ForbiddenException,
  Get,
  Header,
  Logger,
  NotFoundException,
  Param,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CallsRepository } from '../calls/calls.repository';
import { OutboundHttp, OutboundStream, StreamLimits } from '../common/outbound-http';
import { isAddressNotAllowed } from '../connector-sdk';
import { RecordingFetchers } from './recording-fetchers';
import { isMp3, Mp3Transcoder } from './mp3-transcoder';
import { RecordingLinks } from './recording-links.service';

const HUB_LOGO = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#1f6feb"/><path d="M20 14c3 0 5 7 5 9s-3 3-3 5 6 12 14 14c2 0 3-3 5-3s9 2 9 5-4 8-8 8C28 52 12 36 12 22c0-4 5-8 8-8z" fill="#fff"/></svg>`;

/**
 * What the hub fetches for one play: an hour of call audio is some 60 MB; a PBX that takes
 * longer than this to send it is stuck, and a link that is larger is not a recording.
 */
const RECORDING_LIMITS: StreamLimits = {
  idleTimeoutMs: 15_000,
  totalTimeoutMs: 10 * 60_000,
  maxBytes: 256 * 1024 * 1024,
  maxRedirects: 3,
  field: 'recordingUrl',
};

/**
 * Recording links handed to CRMs: no credential, a signed token instead. The hub
 * fetches only the http(s) URL that the call's own events reported, under the outbound
 * policy: a link to an internal address is never fetched, redirects included.
 */
@ApiTags('recordings')
@Controller()
export class RecordingsController {
  private readonly logger = new Logger('Recordings');

  constructor(
    private readonly links: RecordingLinks,
    private readonly fetchers: RecordingFetchers,
    private readonly calls: CallsRepository,
    private readonly http: OutboundHttp,
    private readonly mp3: Mp3Transcoder,
  ) {}

  @Get('v1/recordings/:token')
  async stream(@Param('token') token: string, @Res() reply: FastifyReply): Promise<void> {
    const ref = this.links.verify(token);
    if (!ref) throw new NotFoundException('no such recording');
    const stored = await this.calls.recordingReference(ref.tenantId, ref.callId);
    if (!stored || !/^https?:\/\//i.test(stored)) throw new NotFoundException('no such recording');
    let upstream: OutboundStream;
    try {
      const url = await this.fetchers.resolve(ref.tenantId, stored);
      upstream = await this.http.getStream(url, RECORDING_LIMITS);
    } catch (err) {
      if (isAddressNotAllowed(err)) {
        this.logger.warn(
          { tenantId: ref.tenantId, callId: ref.callId },
          'recording address refused',
        );
        throw new ForbiddenException((err as Error).message);
      }
      throw new ServiceUnavailableException('the PBX did not deliver the recording; retry later');
    }
    if (upstream.status !== 200) {
      upstream.body.destroy();
      throw new ServiceUnavailableException('the PBX did not deliver the recording; retry later');
    }
    const type = String(upstream.headers['content-type'] ?? 'audio/mpeg');
    // CRM players (amoCRM's) take MP3 only: anything else is transcoded on the way.
    if (!isMp3(type) && (await this.mp3.available())) {
      if (this.mp3.busy) {
        upstream.body.destroy();
        void reply.header('retry-after', '5');
        throw new ServiceUnavailableException('the recording is being prepared; retry later');
      }
      void reply.header('cache-control', 'private, max-age=86400');
      void reply.header('content-type', 'audio/mpeg');
      await reply.send(this.mp3.transcode(upstream.body));
      return;
    }
    void reply.header(
      'content-type',
      /^audio\/|^application\/octet-stream/.test(type) ? type : 'audio/mpeg',
    );
    if (upstream.headers['content-length'])
      void reply.header('content-length', String(upstream.headers['content-length']));
    void reply.header('cache-control', 'private, max-age=86400');
    await reply.send(upstream.body);
  }

  /** The logo CRMs show for the integration (RetailCRM requires SVG). */
  @Get('static/hub.svg')
  @Header('content-type', 'image/svg+xml')
  @Header('cache-control', 'public, max-age=86400')
  logo(): string {
    return HUB_LOGO;
  }
}
