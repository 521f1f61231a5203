import { RequestMethod } from '@nestjs/common';
import type { Params } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';

/** Paths that never reach a log line: credentials, keys, signatures, webhook secrets. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-hub-signature"]',
  'req.headers.signature',
  'req.headers.cookie',
  '*.apiKey',
  '*.webhookSecret',
  '*.credentials',
  '*.secret',
  '*.password',
  '*.token',
];

export function loggerParams(level: string): Params {
  return {
    // PBX ingress is the hot path: no per-request child logger there; its services log with
    // tenant and call ids themselves.
    exclude: [{ method: RequestMethod.POST, path: 'v1/pbx/*path' }],
    pinoHttp: {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // The query string can carry RetailCRM's clientId or a recording signature.
      serializers: {
        req: (req: { method: string; url: string; id: unknown }) => ({
          id: req.id,
          method: req.method,
          // Recording tokens and CRM callback ids in paths work like passwords.
          url: req.url
            .split('?')[0]
            .replace(/^\/v1\/recordings\/.*/, '/v1/recordings/[token]')
            .replace(/^(\/v1\/crm\/[^/]+\/)[^/]+/, '$1[integration]'),
        }),
      },
      customProps: (req: IncomingMessage) => {
        const m = /^\/v1\/(?:tenants|pbx)\/([0-9a-f-]{36})/.exec(req.url ?? '');
        return m ? { tenantId: m[1] } : {};
      },
      autoLogging: { ignore: (req: IncomingMessage) => /^\/(health|metrics)/.test(req.url ?? '') },
    },
  };
}
