import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { NormalizedEvent } from '../../calls/call-event';
import { CallProcessor } from '../../calls/call-processor.service';
import { CallsRepository, ringingOf } from '../../calls/calls.repository';
import { IngestService } from '../../calls/ingest.service';
import { Clock } from '../../common/clock';
import { OutboundPolicy } from '../../common/outbound-policy';
import { RedisService } from '../../common/redis.service';
import { TenantsService } from '../../tenants/tenants.service';
import type { PbxSource } from '../pbx-source.entity';
import { PbxSourcesService } from '../pbx-sources.service';
import { AmiClient, AmiError } from './ami-client';
import { amiPort, AsteriskSourceConfig } from './asterisk.schema';
import { AmiMessage } from './ami-protocol';
import { ASTERISK_CALL_EVENTS, AsteriskNormalizer, KnownCall } from './asterisk-normalizer';

/** Lease timings: a dead holder's lease lapses after LEASE_TTL_MS; the others retry every tick. */
export const LEASE_TTL_MS = 8000;
export const LEASE_TICK_MS = 2000;
const SCAN_MS = 3000;
const INGEST_BATCH = 100;
const INGEST_RETRY_MS = 1000;
const IDLE_CALL_MS = 6 * 3600 * 1000;
/** Calls older than this are the abandoned-call closer's business, not the resync's. */
const RESYNC_WINDOW_MS = 24 * 3600 * 1000;
/** An Asterisk Uniqueid / Linkedid: the epoch, a dot, a sequence (after the system name, if set). */
const ASTERISK_ID = /^(?:[A-Za-z0-9_-]{1,64}-)?\d{9,11}\.\d{1,9}$/;

/**
 * Renews our lease; a lease that is gone (Redis restarted without its data) is taken again
 * at once, so the holder keeps its AMI connection instead of dropping it and racing for it.
 */
const RENEW_LUA = `local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

interface Holding {
  client: AmiClient;
  normalizer: AsteriskNormalizer;
  leaseUntil: number;
  status: string | null;
  /** The status message last saved, so that a new reason is saved (and logged) once. */
  message: string | null;
  /** When the connection was lost, until the resync after the reconnect. */
  disconnectedAt?: Date;
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

/**
 * Holds the AMI connection of every `asterisk` PBX source on exactly one hub
 * instance (a Redis lease per source), turns its events into hub events and
 * ingests them. Click-to-call goes through the holder (AsteriskOriginator).
 */
@Injectable()
export class AsteriskSourceService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly instanceId = randomUUID();
  private readonly logger = new Logger('AsteriskSource');
  private readonly tracked = new Map<string, Tracked>();
  private redis!: Redis;
  private scanTimer?: NodeJS.Timeout;
  private leaseTimer?: NodeJS.Timeout;
  private stopping = false;
  private scanning = false;

  constructor(
    private readonly sources: PbxSourcesService,
    private readonly ingestService: IngestService,
    private readonly processor: CallProcessor,
    private readonly calls: CallsRepository,
    private readonly tenants: TenantsService,
    private readonly redisService: RedisService,
    private readonly clock: Clock,
    private readonly outbound: OutboundPolicy,
  ) {}

  leaseKey(sourceId: string): string {
    return this.redisService.key('asterisk', 'lease', sourceId);
  }

  async onApplicationBootstrap(): Promise<void> {
    // Own connections: the lease must still be released when the shared client is already closed.
    this.redis = this.redisService.dedicated();
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
    this.redis?.disconnect();
  }

  /** True when this instance holds the AMI connection of the source (tests, health). */
  holds(sourceId: string): boolean {
    return Boolean(this.tracked.get(sourceId)?.holding);
  }

  /** The AMI client of a source this instance holds, or null. */
  clientFor(sourceId: string): { source: PbxSource; client: AmiClient } | null {
    const t = this.tracked.get(sourceId);
    return t?.holding ? { source: t.source, client: t.holding.client } : null;
  }

  /** The instance holding the source's connection, per its lease (null: nobody). */
  async holderOf(sourceId: string): Promise<string | null> {
    return this.redis.get(this.leaseKey(sourceId)).catch(() => null);
  }

  /** Scans for added, removed and changed asterisk sources. */
  async scan(): Promise<void> {
    if (this.scanning || this.stopping) return;
    this.scanning = true;
    try {
      const rows = await this.sources.allOfType('asterisk');
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
          t.holding.leaseUntil = this.clock.nowMs() + LEASE_TTL_MS;
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
      if (t.holding && this.clock.nowMs() > t.holding.leaseUntil - LEASE_TICK_MS) {
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
    const config = source.config as unknown as AsteriskSourceConfig;
    const creds = this.sources.credentials<{ username: string; secret: string }>(source);
    const tenant = await this.tenants.find(source.tenantId);
    if (!creds || !tenant) {
      await this.redis.eval(RELEASE_LUA, 1, this.leaseKey(source.id), this.instanceId);
      return;
    }
    const client = new AmiClient({
      host: config.host,
      port: amiPort(config),
      username: creds.username,
      secret: creds.secret,
      events: 'on',
      eventAllowList: ASTERISK_CALL_EVENTS,
      // The host came from the tenant: checked after DNS, on every reconnect.
      connect: (target) => this.outbound.connect(target, 'config.host'),
    });
    const holding: Holding = {
      client,
      normalizer: new AsteriskNormalizer({
        defaultCountry: tenant.defaultCountry,
        recordingUrlTemplate: config.recordingUrlTemplate,
        now: () => this.clock.now(),
      }),
      leaseUntil: this.clock.nowMs() + LEASE_TTL_MS,
      status: null,
      message: null,
    };
    t.holding = holding;
    const log = { sourceId: source.id, tenantId: source.tenantId };
    client.on('connected', () => {
      this.logger.log(log, 'AMI connected');
      holding.normalizer.prune(IDLE_CALL_MS);
      void this.status(t, holding, 'connected', null);
      void this.resync(t, holding);
    });
    client.on('disconnected', (reason) => {
      holding.disconnectedAt ??= this.clock.now();
      this.logger.warn({ ...log, reason }, 'AMI disconnected; reconnecting');
      void this.status(t, holding, 'connecting', reason);
    });
    client.on('error', (err: AmiError) => {
      if (err.kind === 'auth') {
        this.logger.warn(log, 'AMI login rejected; check the source credentials');
        void this.status(t, holding, 'auth_failed', 'AMI authentication failed');
      } else if (err.kind === 'not_allowed') {
        // Nothing was sent; the client keeps trying (a DNS answer may change), at its backoff.
        this.logger.warn(log, 'AMI host refused by the outbound policy');
        void this.status(t, holding, 'address_not_allowed', err.message);
      } else {
        if (holding.status !== 'auth_failed') {
          // Said once per new reason, not at every reconnect attempt.
          if (holding.message !== err.message) {
            this.logger.warn({ ...log, err: err.message }, 'AMI not connected; retrying');
          }
          void this.status(t, holding, 'connecting', err.message);
        }
      }
    });
    client.on('event', (msg) => this.onAmiEvent(t, holding, msg));
    await this.status(t, holding, 'connecting', null);
    client.start();
  }

  /**
   * After a (re)connect or a takeover: the calls Asterisk still has channels for are going on;
   * an open call of this tenant that has none ended while the hub was not listening, and is
   * ended now, saying so. Only calls with Asterisk's own ids (`<epoch>.<sequence>`) are
   * considered, so calls of the tenant's other PBX sources are left alone.
   */
  private async resync(t: Tracked, holding: Holding): Promise<void> {
    const since = new Date(this.clock.nowMs() - RESYNC_WINDOW_MS);
    const at = holding.disconnectedAt ?? since;
    try {
      const { events } = await holding.client.action({ Action: 'CoreShowChannels' }, 10_000);
      const live = new Set<string>();
      const channelsOf = new Map<string, AmiMessage[]>();
      for (const e of events) {
        if (e.event !== 'CoreShowChannel') continue;
        for (const id of [e.get('Linkedid'), e.get('Uniqueid')]) if (id) live.add(id);
        const linkedid = e.get('Linkedid') || e.get('Uniqueid');
        if (linkedid) channelsOf.set(linkedid, [...(channelsOf.get(linkedid) ?? []), e]);
      }
      // Calls that go on, which this instance did not see begin (it took over from a holder that
      // crashed or stopped): followed from here on, so that their hangups end them correctly.
      let adopted = 0;
      for (const row of await this.calls.active(t.source.tenantId, since, 1000)) {
        const channels = channelsOf.get(row.call_id);
        if (!channels) continue;
        const known: KnownCall = {
          callId: row.call_id,
          direction: row.direction,
          startedAt: new Date(row.started_at),
          answeredAt: row.answered_at ? new Date(row.answered_at) : null,
          extension: row.extension,
          answeredBy: row.answered_by,
          rang: ringingOf(row).length,
        };
        if (holding.normalizer.adopt(known, channels)) adopted++;
      }
      if (adopted)
        this.logger.log(
          { sourceId: t.source.id, calls: adopted },
          'AMI resync: calls in progress taken up',
        );
      const ended = await this.processor.endLost(
        t.source.tenantId,
        (callId) => ASTERISK_ID.test(callId) && !live.has(callId),
        'ended while the hub was not connected to Asterisk (found at the resync)',
        since,
        at,
      );
      holding.disconnectedAt = undefined;
      if (ended) {
        this.logger.warn(
          { sourceId: t.source.id, calls: ended },
          'AMI resync: ended calls that had no channel any more',
        );
      }
    } catch (err) {
      this.logger.warn({ sourceId: t.source.id, err: (err as Error).message }, 'AMI resync failed');
    }
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
        await this.ingestService.ingest(t.source.tenantId, batch, 'asterisk', 'drop');
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
    if (t.holding !== holding || this.stopping) return;
    if (holding.status === status && holding.message === message) return;
    holding.status = status;
    holding.message = message;
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
}
