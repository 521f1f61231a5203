import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import type { NormalizedEvent } from '../../calls/call-event';
import { IngestService } from '../../calls/ingest.service';
import { RedisService } from '../../common/redis.module';
import { TenantsService } from '../../tenants/tenants.service';
import { OriginateError, OriginateRequest, PbxOriginator } from '../originate.types';
import { PbxSource } from '../pbx-source.entity';
import { PbxSourcesService } from '../pbx-sources.service';
import { AmiClient, AmiError } from './ami-client';
import { AmiMessage } from './ami-protocol';
import { ASTERISK_CALL_EVENTS, AsteriskNormalizer } from './asterisk-normalizer';

/** Lease timings: a dead holder's lease lapses after LEASE_TTL_MS; the others retry every tick. */
export const LEASE_TTL_MS = 8000;
export const LEASE_TICK_MS = 2000;
const SCAN_MS = 3000;
const INGEST_BATCH = 100;
const INGEST_RETRY_MS = 1000;
const ORIGINATE_TIMEOUT_MS = 15000;
const IDLE_CALL_MS = 6 * 3600 * 1000;

const RENEW_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

interface AsteriskConfig {
  host: string;
  port?: number;
  recordingUrlTemplate?: string;
  originateContext?: string;
}

interface Holding {
  client: AmiClient;
  normalizer: AsteriskNormalizer;
  leaseUntil: number;
  status: string | null;
}

interface Tracked {
  source: PbxSource;
  fingerprint: string;
  holding: Holding | null;
  /** Normalized events not yet stored; kept until ingest succeeds. */
  backlog: NormalizedEvent[];
  flushing: boolean;
  retryTimer?: NodeJS.Timeout;
}

interface OriginateMessage {
  id: string;
  replyTo: string;
  sourceId: string;
  request: OriginateRequest;
}

interface OriginateReply {
  id: string;
  ok: boolean;
  message?: string;
  retryable?: boolean;
}

/**
 * Holds the AMI connection of every `asterisk` PBX source on exactly one hub
 * instance (a Redis lease per source), turns its events into hub events and
 * ingests them, and places click-to-call through it.
 *
 * Originate from an instance that does not hold the connection goes over Redis
 * pub/sub: the request is published on the source's channel, the holder runs it
 * and publishes the outcome on the requester's own reply channel; the requester
 * waits up to ORIGINATE_TIMEOUT_MS. With no lease holder at all it fails fast.
 */
@Injectable()
export class AsteriskSourceService
  implements PbxOriginator, OnApplicationBootstrap, OnModuleDestroy
{
  readonly type = 'asterisk' as const;
  readonly instanceId = randomUUID();
  private readonly logger = new Logger('AsteriskSource');
  private readonly tracked = new Map<string, Tracked>();
  private readonly waiting = new Map<string, (reply: OriginateReply) => void>();
  private redis!: Redis;
  private subscriber!: Redis;
  private scanTimer?: NodeJS.Timeout;
  private leaseTimer?: NodeJS.Timeout;
  private stopping = false;
  private scanning = false;

  constructor(
    @InjectRepository(PbxSource) private readonly repo: Repository<PbxSource>,
    private readonly sources: PbxSourcesService,
    private readonly ingestService: IngestService,
    private readonly tenants: TenantsService,
    private readonly redisService: RedisService,
  ) {}

  private get replyChannel(): string {
    return this.redisService.key('asterisk', 'originate-reply', this.instanceId);
  }

  private leaseKey(sourceId: string): string {
    return this.redisService.key('asterisk', 'lease', sourceId);
  }

  private requestChannel(sourceId: string): string {
    return this.redisService.key('asterisk', 'originate', sourceId);
  }

  async onApplicationBootstrap(): Promise<void> {
    // Own connections: the lease must still be released when the shared client is already closed.
    this.redis = this.redisService.client.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: 2,
    });
    this.redis.on('error', () => undefined);
    this.subscriber = this.redisService.client.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
    });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('pmessage', (_pattern, channel, payload) => this.onPubSub(channel, payload));
    this.subscriber.on('message', (channel, payload) => this.onPubSub(channel, payload));
    await this.subscriber
      .psubscribe(this.requestChannel('*'))
      .then(() => this.subscriber.subscribe(this.replyChannel))
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'pub/sub unavailable'));
    void this.scan();
    this.scanTimer = setInterval(() => void this.scan(), SCAN_MS);
    this.leaseTimer = setInterval(() => void this.leaseTick(), LEASE_TICK_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.scanTimer);
    clearInterval(this.leaseTimer);
    await Promise.all([...this.tracked.values()].map((t) => this.untrack(t)));
    this.tracked.clear();
    this.subscriber?.disconnect();
    this.redis?.disconnect();
  }

  /** True when this instance holds the AMI connection of the source (tests, health). */
  holds(sourceId: string): boolean {
    return Boolean(this.tracked.get(sourceId)?.holding);
  }

  /** Scans for added, removed and changed asterisk sources. */
  async scan(): Promise<void> {
    if (this.scanning || this.stopping) return;
    this.scanning = true;
    try {
      const rows = await this.repo.find({ where: { type: 'asterisk' } });
      const seen = new Set<string>();
      for (const source of rows) {
        seen.add(source.id);
        const fingerprint = `${JSON.stringify(source.config)}|${source.credentialsEnc ?? ''}`;
        const current = this.tracked.get(source.id);
        if (current && current.fingerprint === fingerprint) {
          current.source = source;
          continue;
        }
        if (current) await this.untrack(current);
        this.tracked.set(source.id, {
          source,
          fingerprint,
          holding: null,
          backlog: current?.backlog ?? [],
          flushing: false,
        });
      }
      for (const [id, t] of this.tracked) {
        if (!seen.has(id)) {
          await this.untrack(t);
          this.tracked.delete(id);
        }
      }
      await this.leaseTick();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'asterisk source scan failed');
    } finally {
      this.scanning = false;
    }
  }

  private async leaseTick(): Promise<void> {
    if (this.stopping) return;
    await Promise.all([...this.tracked.values()].map((t) => this.leaseOne(t)));
  }

  private async leaseOne(t: Tracked): Promise<void> {
    const key = this.leaseKey(t.source.id);
    try {
      if (t.holding) {
        const renewed = await this.redis.eval(RENEW_LUA, 1, key, this.instanceId, LEASE_TTL_MS);
        if (Number(renewed) === 1) {
          t.holding.leaseUntil = Date.now() + LEASE_TTL_MS;
        } else {
          this.logger.warn(
            { sourceId: t.source.id },
            'AMI lease lost; letting go of the connection',
          );
          await this.release(t, false);
        }
        return;
      }
      const got = await this.redis.set(key, this.instanceId, 'PX', LEASE_TTL_MS, 'NX');
      if (got === 'OK' && !this.stopping) await this.hold(t);
    } catch (err) {
      // Redis unreachable: keep the connection only while our lease surely still stands.
      if (t.holding && Date.now() > t.holding.leaseUntil - LEASE_TICK_MS) {
        this.logger.warn(
          { sourceId: t.source.id, err: (err as Error).message },
          'cannot renew the AMI lease; letting go',
        );
        await this.release(t, false);
      }
    }
  }

  private async hold(t: Tracked): Promise<void> {
    const source = t.source;
    const config = source.config as unknown as AsteriskConfig;
    const creds = this.sources.credentials<{ username: string; secret: string }>(source);
    const tenant = await this.tenants.find(source.tenantId);
    if (!creds || !tenant) {
      await this.redis.eval(RELEASE_LUA, 1, this.leaseKey(source.id), this.instanceId);
      return;
    }
    const client = new AmiClient({
      host: config.host,
      port: config.port ?? 5038,
      username: creds.username,
      secret: creds.secret,
      events: 'on',
      eventAllowList: ASTERISK_CALL_EVENTS,
    });
    const holding: Holding = {
      client,
      normalizer: new AsteriskNormalizer({
        defaultCountry: tenant.defaultCountry,
        recordingUrlTemplate: config.recordingUrlTemplate,
      }),
      leaseUntil: Date.now() + LEASE_TTL_MS,
      status: null,
    };
    t.holding = holding;
    const log = { sourceId: source.id, tenantId: source.tenantId };
    client.on('connected', () => {
      this.logger.log(log, 'AMI connected');
      holding.normalizer.prune(IDLE_CALL_MS);
      void this.status(t, holding, 'connected', null);
    });
    client.on('disconnected', (reason) => {
      this.logger.warn({ ...log, reason }, 'AMI disconnected; reconnecting');
      void this.status(t, holding, 'connecting', reason);
    });
    client.on('error', (err: AmiError) => {
      if (err.kind === 'auth') {
        this.logger.warn(log, 'AMI login rejected; check the source credentials');
        void this.status(t, holding, 'auth_failed', 'AMI authentication failed');
      } else {
        this.logger.debug({ ...log, err: err.message }, 'AMI error');
        if (holding.status !== 'auth_failed') {
          void this.status(t, holding, 'connecting', err.message);
        }
      }
    });
    client.on('event', (msg) => this.onAmiEvent(t, holding, msg));
    await this.status(t, holding, 'connecting', null);
    client.start();
  }

  private onAmiEvent(t: Tracked, holding: Holding, msg: AmiMessage): void {
    if (msg.event === 'OriginateResponse') {
      this.logger.log(
        {
          sourceId: t.source.id,
          actionId: msg.actionId,
          response: msg.get('Response'),
          reason: msg.get('Reason'),
        },
        'originate outcome',
      );
      return;
    }
    const events = holding.normalizer.push(msg);
    if (events.length === 0) return;
    t.backlog.push(...events);
    void this.flush(t);
  }

  /** Ingests the backlog in small batches, in order; a failed batch stays and is retried. */
  private async flush(t: Tracked): Promise<void> {
    if (t.flushing) return;
    t.flushing = true;
    try {
      while (t.backlog.length > 0) {
        const batch = t.backlog.slice(0, INGEST_BATCH);
        await this.ingestService.ingest(t.source.tenantId, batch, 'asterisk');
        t.backlog.splice(0, batch.length);
      }
    } catch (err) {
      this.logger.warn(
        { sourceId: t.source.id, pending: t.backlog.length, err: (err as Error).message },
        'could not store Asterisk events; retrying',
      );
      clearTimeout(t.retryTimer);
      t.retryTimer = setTimeout(() => void this.flush(t), INGEST_RETRY_MS);
    } finally {
      t.flushing = false;
    }
  }

  private async status(
    t: Tracked,
    holding: Holding,
    status: string,
    message: string | null,
  ): Promise<void> {
    // Only the holder writes, and only changes: instances on standby stay silent.
    if (t.holding !== holding || holding.status === status || this.stopping) return;
    holding.status = status;
    await this.sources
      .setStatus(t.source.id, status, message)
      .catch((err: Error) =>
        this.logger.warn({ err: err.message }, 'could not save the source status'),
      );
  }

  private async release(t: Tracked, deleteLease: boolean): Promise<void> {
    const holding = t.holding;
    if (!holding) return;
    t.holding = null;
    await holding.client.close();
    if (deleteLease) {
      await this.redis
        .eval(RELEASE_LUA, 1, this.leaseKey(t.source.id), this.instanceId)
        .catch(() => undefined);
    }
  }

  private async untrack(t: Tracked): Promise<void> {
    await this.release(t, true);
    // Stop retrying only when there is nothing left to store; otherwise try once more.
    clearTimeout(t.retryTimer);
    if (t.backlog.length) await this.flush(t);
  }

  async originate(
    source: PbxSource,
    _credentials: Record<string, unknown> | null,
    request: OriginateRequest,
  ): Promise<void> {
    if (!/^[0-9A-Za-z*#_+-]{1,32}$/.test(request.extension)) {
      throw new OriginateError('the extension is not a valid dialplan extension', false);
    }
    if (!/^\+?[0-9]{3,20}$/.test(request.to)) {
      throw new OriginateError('the number to call must be digits', false);
    }
    const local = this.tracked.get(source.id)?.holding;
    if (local) return this.originateHere(source, local, request);
    const holder = await this.redis.get(this.leaseKey(source.id)).catch(() => null);
    if (!holder) {
      throw new OriginateError('no hub instance holds the AMI connection of this source', true);
    }
    const id = randomUUID();
    const reply = new Promise<OriginateReply>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, ok: false, message: 'the AMI holder did not answer', retryable: true });
      }, ORIGINATE_TIMEOUT_MS);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(r);
      });
    });
    const message: OriginateMessage = {
      id,
      replyTo: this.replyChannel,
      sourceId: source.id,
      request,
    };
    await this.redis.publish(this.requestChannel(source.id), JSON.stringify(message));
    const r = await reply;
    if (!r.ok) throw new OriginateError(r.message ?? 'originate failed', r.retryable ?? true);
  }

  private async originateHere(
    source: PbxSource,
    holding: Holding,
    request: OriginateRequest,
  ): Promise<void> {
    const config = source.config as unknown as AsteriskConfig;
    const context = config.originateContext ?? 'from-internal';
    try {
      await holding.client.action({
        Action: 'Originate',
        Channel: `Local/${request.extension}@${context}`,
        Context: context,
        Exten: request.to,
        Priority: 1,
        CallerID: `"${request.to}" <${request.to}>`,
        Timeout: 30000,
        Async: 'true',
        ChannelId: request.requestId,
        Variable: [`HUB_REQUEST_ID=${request.requestId}`],
      });
    } catch (err) {
      const e = err as AmiError;
      throw new OriginateError(`Asterisk refused the call: ${e.message}`, e.kind !== 'rejected');
    }
  }

  private onPubSub(channel: string, payload: string): void {
    try {
      if (channel === this.replyChannel) {
        const reply = JSON.parse(payload) as OriginateReply;
        this.waiting.get(reply.id)?.(reply);
        return;
      }
      const msg = JSON.parse(payload) as OriginateMessage;
      const t = this.tracked.get(msg.sourceId);
      if (!t?.holding) return;
      void this.originateHere(t.source, t.holding, msg.request).then(
        () => this.answer(msg, { id: msg.id, ok: true }),
        (err: OriginateError) =>
          this.answer(msg, {
            id: msg.id,
            ok: false,
            message: err.message,
            retryable: err.retryable,
          }),
      );
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'bad originate message');
    }
  }

  private async answer(msg: OriginateMessage, reply: OriginateReply): Promise<void> {
    await this.redis.publish(msg.replyTo, JSON.stringify(reply)).catch(() => undefined);
  }
}
