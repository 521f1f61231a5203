import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

const OUTAGE_CODES =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|PROTOCOL_CONNECTION_LOST|ER_SERVER_SHUTDOWN|ER_CON_COUNT_ERROR)$/;

/** A database or Redis that cannot be reached is a 503 (retry later), never a 500. */
export function isStorageOutage(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string }; message?: string } | null;
  if (!e) return false;
  const code = e.code ?? e.driverError?.code;
  if (code && OUTAGE_CODES.test(code)) return true;
  return /Connection is closed|connect ECONNREFUSED|Stream isn't writeable|max retries per request/i.test(
    e.message ?? '',
  );
}

/**
 * Every error leaves as {statusCode, error, message} with a single string message
 * that names the problem. Unexpected errors become a bare 500 (details go to the log).
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { statusCode, message } = this.describe(exception);
    if (statusCode >= 500) this.logger.error({ err: exception }, 'request failed');
    void reply.status(statusCode).send({
      statusCode,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message,
    });
  }

  private describe(exception: unknown): { statusCode: number; message: string } {
    if (exception instanceof HttpException) {
      const res = exception.getResponse();
      let message: string = exception.message;
      if (typeof res === 'string') message = res;
      else if (res && typeof res === 'object' && 'message' in res) {
        const m = (res as { message: unknown }).message;
        message = Array.isArray(m) ? m.join('; ') : String(m);
      }
      return { statusCode: exception.getStatus(), message };
    }
    const fe = exception as FastifyLikeError;
    if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(fe.message ?? '')) {
        return { statusCode: 400, message: `body is not valid JSON: ${fe.message ?? ''}`.trim() };
      }
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return { statusCode: 413, message: 'body is too large' };
      }
      if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        return { statusCode: 415, message: fe.message ?? 'unsupported content type' };
      }
      return { statusCode: fe.statusCode, message: fe.message ?? 'bad request' };
    }
    if (isStorageOutage(exception)) {
      return { statusCode: 503, message: 'storage is unavailable; retry later' };
    }
    return { statusCode: 500, message: 'internal error' };
  }
}
