import { plainToInstance, Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
  validateSync,
} from 'class-validator';
import { OutboundAllowEntry, parseOutboundAllow } from './outbound-allow';
import { parseTrustProxy, TrustProxy } from './trust-proxy';

/**
 * The environment, validated once at boot. Only this folder reads process.env;
 * everything else receives an AppConfig.
 */
export class EnvSchema {
  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 3000 : Number(value)))
  @IsInt()
  @Min(0)
  @Max(65535)
  HUB_PORT = 3000;

  @IsOptional()
  @IsString()
  HUB_HOST = '0.0.0.0';

  /** Off by default: the socket's peer is the client (see trust-proxy.ts). */
  @IsOptional()
  @ValidateBy({
    name: 'isTrustProxy',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && parseTrustProxy(v) !== null,
      defaultMessage: () =>
        'HUB_TRUST_PROXY must be false, true, a number of proxy hops (1-16) or comma-separated proxy addresses/CIDRs',
    },
  })
  HUB_TRUST_PROXY = '';

  @IsOptional()
  @Matches(/^mysql:\/\/[^/]+\/[A-Za-z0-9_]+(\?.*)?$/, {
    message: 'DATABASE_URL must look like mysql://user:password@host:3306/database',
  })
  DATABASE_URL = 'mysql://root@127.0.0.1:3306/hub';

  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must look like redis://host:6379' })
  REDIS_URL = 'redis://127.0.0.1:6379';

  @IsOptional()
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, {
    message: 'HUB_REDIS_PREFIX must be 1-64 letters, digits, "_", "." or "-"',
  })
  HUB_REDIS_PREFIX = 'hub';

  @IsString({ message: 'HUB_ADMIN_TOKEN is required (at least 24 characters)' })
  @MinLength(24, { message: 'HUB_ADMIN_TOKEN must be at least 24 characters' })
  HUB_ADMIN_TOKEN: string;

  /** The token being replaced, accepted alongside HUB_ADMIN_TOKEN during a rollover. */
  @IsOptional()
  @IsString()
  @MinLength(24, { message: 'HUB_ADMIN_TOKEN_PREVIOUS must be at least 24 characters' })
  HUB_ADMIN_TOKEN_PREVIOUS?: string = undefined;

  @IsString({ message: 'HUB_ENCRYPTION_KEY is required (32 bytes, base64)' })
  @Matches(/^[A-Za-z0-9+/]{43}=$/, {
    message: 'HUB_ENCRYPTION_KEY must be 32 bytes encoded as base64 (44 characters)',
  })
  HUB_ENCRYPTION_KEY: string;

  /** The key being replaced: secrets that do not open with HUB_ENCRYPTION_KEY are tried with it. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9+/]{43}=$/, {
    message: 'HUB_ENCRYPTION_KEY_PREVIOUS must be 32 bytes encoded as base64 (44 characters)',
  })
  HUB_ENCRYPTION_KEY_PREVIOUS?: string = undefined;

  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['http', 'https'] },
    { message: 'HUB_PUBLIC_URL must be an http(s) URL' },
  )
  HUB_PUBLIC_URL = 'http://localhost:3000';

  /** The built web console (default: dist/console beside the hub). */
  @IsOptional()
  @IsString()
  @Length(1, 1000)
  HUB_CONSOLE_DIR?: string = undefined;

  @IsOptional()
  @Matches(/^$|^[@A-Za-z0-9_./-]+(,[@A-Za-z0-9_./-]+)*$/, {
    message: 'HUB_CONNECTOR_PLUGINS must be a comma-separated list of npm package names',
  })
  HUB_CONNECTOR_PLUGINS = '';

  /** Checked entry by entry in loadConfig (parseOutboundAllow). */
  @IsOptional()
  @IsString()
  HUB_OUTBOUND_ALLOW = '';

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 15 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(3600)
  HUB_SWEEP_AFTER_S = 15;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 5 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(3600)
  HUB_SWEEP_INTERVAL_S = 5;

  /** Unset: the CRM failure policy's own default. */
  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? undefined : Number(value)))
  @IsInt()
  @Min(1)
  HUB_CRM_MAX_AGE_S?: number = undefined;

  /** Unset: the CRM failure policy's own default. */
  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? undefined : Number(value)))
  @IsInt()
  @Min(2)
  @Max(3600)
  HUB_CRM_CLAIM_S?: number = undefined;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 8 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(256)
  HUB_WORKER_CONCURRENCY = 8;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 4 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(64)
  HUB_CALL_WORKERS = 4;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 200 : Number(value)))
  @IsInt()
  @Min(0)
  @Max(100000)
  HUB_INGEST_BACKLOG_JOBS = 200;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 100 : Number(value)))
  @IsInt()
  @Min(0)
  @Max(60000)
  HUB_CALL_HOLD_MS = 100;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 20 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(600)
  HUB_SHUTDOWN_S = 20;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 30 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(600)
  HUB_REQUEST_TIMEOUT_S = 30;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 900 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(86400)
  HUB_WIDGET_STREAM_S = 900;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 7200 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(7 * 86400)
  HUB_UNANSWERED_CALL_MAX_S = 7200;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 60 : Number(value)))
  @IsInt()
  @Min(0)
  @Max(600)
  HUB_CONTACT_FRESH_S = 60;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 86400 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(7 * 86400)
  HUB_ANSWERED_CALL_MAX_S = 86400;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 30 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(100_000)
  HUB_AUTH_FAILURES_PER_MIN = 30;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 3000 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  HUB_ANON_REQUESTS_PER_MIN = 3000;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 20_000 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  HUB_TENANT_REQUESTS_PER_S = 20_000;

  /** 0: keep calls and audit records forever. */
  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 0 : Number(value)))
  @IsInt({ message: 'HUB_RETENTION_DAYS must be a whole number of days (0: keep forever)' })
  @Min(0, { message: 'HUB_RETENTION_DAYS must be 0 (keep forever) or more' })
  @Max(36500, { message: 'HUB_RETENTION_DAYS must be at most 36500' })
  HUB_RETENTION_DAYS = 0;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 3600 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(86400)
  HUB_RETENTION_INTERVAL_S = 3600;

  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? 60 : Number(value)))
  @IsInt()
  @Min(1)
  @Max(86400)
  HUB_STATS_REFRESH_S = 60;
}

export interface AppConfig {
  port: number;
  host: string;
  /** Whose X-Forwarded-For gives the client address (HUB_TRUST_PROXY); false: nobody's. */
  trustProxy: TrustProxy;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  adminToken: string;
  /** The admin token being replaced, still accepted (HUB_ADMIN_TOKEN_PREVIOUS); null: none. */
  adminTokenPrevious: string | null;
  encryptionKey: Buffer;
  /** The encryption key being replaced, to open what it sealed (HUB_ENCRYPTION_KEY_PREVIOUS). */
  encryptionKeyPrevious: Buffer | null;
  publicUrl: string;
  /** Where the built console is; null: dist/console. */
  consoleDir: string | null;
  connectorPlugins: string[];
  /** Internal networks and hosts tenant-supplied addresses may reach (HUB_OUTBOUND_ALLOW). */
  outboundAllow: OutboundAllowEntry[];
  logLevel: string;
  sweepAfterS: number;
  sweepIntervalS: number;
  /** null: the failure policy's default. */
  crmMaxAgeS: number | null;
  /** How long a worker holds a CRM action before another may take it; null: the policy's default. */
  crmClaimS: number | null;
  workerConcurrency: number;
  /**
   * Call-processing jobs waiting beyond which PBX event posts wait (up to a second) before
   * they are stored, so processing catches up instead of falling behind; 0: never.
   */
  ingestBacklogJobs: number;
  callWorkers: number;
  /**
   * While every call worker of the instance is busy, the longest calls are held to leave as one
   * job when a worker is free; 0: never held.
   */
  callHoldMs: number;
  /** How long SIGTERM waits for work in flight before it releases the rest and exits. */
  shutdownS: number;
  /** A request must arrive whole (headers and body) within this; slow senders are cut off. */
  requestTimeoutS: number;
  /** A CRM widget's stream is closed after this long; the widget signs in again (fresh token). */
  widgetStreamS: number;
  /** A call not answered that heard nothing for this long is closed by the hub (its end was lost). */
  unansweredCallMaxS: number;
  /** A cached contact older than this is asked of the CRM again at the next call. */
  contactFreshS: number;
  /** The same for an answered call (talk produces no events, so this is longer). */
  answeredCallMaxS: number;
  /** Failed authentications per source address and minute before it is refused (429). */
  authFailuresPerMin: number;
  /** Requests without credentials per source address and minute. */
  anonymousRequestsPerMin: number;
  /** Authenticated requests per tenant and second, across instances. */
  tenantRequestsPerS: number;
  /** Calls and audit records older than this many days are purged; 0: kept forever. */
  retentionDays: number;
  /** How often the purge runs (it also runs at boot). */
  retentionIntervalS: number;
  /** How often days past are summed for the statistics (and out-of-date sums redone). */
  statsRefreshS: number;
}

export class ConfigError extends Error {}

const KNOWN = Object.keys(new EnvSchema());

/** Validates the environment; throws a ConfigError naming each bad variable, never its value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const picked: Record<string, string> = {};
  for (const key of [...KNOWN, 'HUB_ADMIN_TOKEN', 'HUB_ENCRYPTION_KEY']) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const schema = plainToInstance(EnvSchema, picked);
  const errors = validateSync(schema, { whitelist: true });
  if (errors.length) {
    const lines = errors.map(
      (e) => `${e.property}: ${Object.values(e.constraints ?? {}).join('; ')}`,
    );
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const key = Buffer.from(schema.HUB_ENCRYPTION_KEY, 'base64');
  if (key.length !== 32) {
    throw new ConfigError('Invalid configuration:\n  HUB_ENCRYPTION_KEY: must decode to 32 bytes');
  }
  const previousKey = schema.HUB_ENCRYPTION_KEY_PREVIOUS
    ? Buffer.from(schema.HUB_ENCRYPTION_KEY_PREVIOUS, 'base64')
    : null;
  if (previousKey && previousKey.length !== 32) {
    throw new ConfigError(
      'Invalid configuration:\n  HUB_ENCRYPTION_KEY_PREVIOUS: must decode to 32 bytes',
    );
  }
  if (previousKey?.equals(key)) {
    throw new ConfigError(
      'Invalid configuration:\n  HUB_ENCRYPTION_KEY_PREVIOUS: must differ from HUB_ENCRYPTION_KEY',
    );
  }
  if (schema.HUB_ADMIN_TOKEN_PREVIOUS === schema.HUB_ADMIN_TOKEN) {
    throw new ConfigError(
      'Invalid configuration:\n  HUB_ADMIN_TOKEN_PREVIOUS: must differ from HUB_ADMIN_TOKEN',
    );
  }
  let outboundAllow: OutboundAllowEntry[];
  try {
    outboundAllow = parseOutboundAllow(schema.HUB_OUTBOUND_ALLOW);
  } catch (err) {
    throw new ConfigError(
      `Invalid configuration:\n  HUB_OUTBOUND_ALLOW: ${(err as Error).message} (comma-separated CIDRs, addresses and host[:port])`,
    );
  }
  return {
    port: schema.HUB_PORT,
    host: schema.HUB_HOST,
    trustProxy: parseTrustProxy(schema.HUB_TRUST_PROXY) ?? false,
    databaseUrl: schema.DATABASE_URL,
    redisUrl: schema.REDIS_URL,
    redisPrefix: schema.HUB_REDIS_PREFIX,
    adminToken: schema.HUB_ADMIN_TOKEN,
    adminTokenPrevious: schema.HUB_ADMIN_TOKEN_PREVIOUS ?? null,
    encryptionKey: key,
    encryptionKeyPrevious: previousKey,
    publicUrl: schema.HUB_PUBLIC_URL.replace(/\/+$/, ''),
    consoleDir: schema.HUB_CONSOLE_DIR ?? null,
    connectorPlugins: schema.HUB_CONNECTOR_PLUGINS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    outboundAllow,
    logLevel: schema.LOG_LEVEL,
    sweepAfterS: schema.HUB_SWEEP_AFTER_S,
    sweepIntervalS: schema.HUB_SWEEP_INTERVAL_S,
    crmMaxAgeS: schema.HUB_CRM_MAX_AGE_S ?? null,
    crmClaimS: schema.HUB_CRM_CLAIM_S ?? null,
    workerConcurrency: schema.HUB_WORKER_CONCURRENCY,
    callWorkers: schema.HUB_CALL_WORKERS,
    ingestBacklogJobs: schema.HUB_INGEST_BACKLOG_JOBS,
    callHoldMs: schema.HUB_CALL_HOLD_MS,
    shutdownS: schema.HUB_SHUTDOWN_S,
    requestTimeoutS: schema.HUB_REQUEST_TIMEOUT_S,
    widgetStreamS: schema.HUB_WIDGET_STREAM_S,
    unansweredCallMaxS: schema.HUB_UNANSWERED_CALL_MAX_S,
    contactFreshS: schema.HUB_CONTACT_FRESH_S,
    answeredCallMaxS: schema.HUB_ANSWERED_CALL_MAX_S,
    authFailuresPerMin: schema.HUB_AUTH_FAILURES_PER_MIN,
    anonymousRequestsPerMin: schema.HUB_ANON_REQUESTS_PER_MIN,
    tenantRequestsPerS: schema.HUB_TENANT_REQUESTS_PER_S,
    retentionDays: schema.HUB_RETENTION_DAYS,
    retentionIntervalS: schema.HUB_RETENTION_INTERVAL_S,
    statsRefreshS: schema.HUB_STATS_REFRESH_S,
  };
}
