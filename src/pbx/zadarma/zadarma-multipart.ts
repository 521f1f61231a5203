import type { FastifyInstance } from 'fastify';

/** Zadarma notifications are tiny (a dozen short fields); anything bigger is not from Zadarma. */
export const MULTIPART_BODY_LIMIT = 64 * 1024;
const MAX_FIELDS = 100;
const MAX_NAME_LENGTH = 100;

export type FormFields = Record<string, string | string[]>;

class MultipartError extends Error {
  readonly statusCode = 400;
  readonly code = 'HUB_ERR_MULTIPART';
}

function addField(fields: FormFields, name: string, value: string): void {
  const existing = fields[name];
  if (existing === undefined) fields[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else fields[name] = [existing, value];
}

/**
 * Text fields of a multipart/form-data body. File parts are skipped: Zadarma sends none.
 *
 * Zadarma has been seen sending a body whose delimiter lines differ from the Content-Type
 * boundary by a "--" (npm `zadarma` handler), so the delimiter is taken from the body: the
 * first line that is the header's boundary give or take leading dashes. Names such as
 * `__proto__` are harmless: the result has no prototype.
 */
export function parseMultipartFields(body: Buffer, contentType: string): FormFields {
  const m = /;\s*boundary=(?:"([^"]{1,200})"|([^;\s]{1,200}))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  const core = boundary?.replace(/^-+/, '');
  if (!core) throw new MultipartError('multipart/form-data needs a boundary in Content-Type');
  const text = body.toString('utf8');
  const lines = text.split(/\r?\n/, MAX_FIELDS * 8);
  const delimiter = lines.find((l) => l.startsWith('-') && l.replace(/^-+/, '').trimEnd() === core);
  if (!delimiter) {
    throw new MultipartError('multipart body does not use the boundary of its Content-Type');
  }
  const fields = Object.create(null) as FormFields;
  const parts = text.split(delimiter.trimEnd());
  let count = 0;
  // parts[0] is the preamble; a part starting with "--" is the closing delimiter's tail.
  for (const raw of parts.slice(1)) {
    if (raw.startsWith('--')) break;
    const part = raw.replace(/^[ \t]*\r?\n/, '').replace(/\r?\n$/, '');
    const split = /\r?\n\r?\n/.exec(part);
    if (!split) throw new MultipartError('multipart part without a header/body separator');
    const headers = part.slice(0, split.index);
    const value = part.slice(split.index + split[0].length);
    const disposition = /^content-disposition:\s*form-data\s*;(.*)$/im.exec(headers);
    if (!disposition) throw new MultipartError('multipart part without Content-Disposition');
    if (/\bfilename\*?=/i.test(disposition[1])) continue;
    const name = /\bname=(?:"([^"]*)"|([^;\s]+))/i.exec(disposition[1]);
    const fieldName = name?.[1] ?? name?.[2];
    if (!fieldName || fieldName.length > MAX_NAME_LENGTH) {
      throw new MultipartError('multipart part without a usable field name');
    }
    if (++count > MAX_FIELDS) throw new MultipartError(`more than ${MAX_FIELDS} multipart fields`);
    addField(fields, fieldName, value);
  }
  return fields;
}

/**
 * Teaches Fastify multipart/form-data (text fields only, size-limited), keeping the raw body
 * as `request.rawBody` like the JSON and form parsers do. Safe to call more than once.
 */
export function registerZadarmaParsers(fastify: FastifyInstance): void {
  if (fastify.hasContentTypeParser('multipart/form-data')) return;
  fastify.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'buffer', bodyLimit: MULTIPART_BODY_LIMIT },
    (req, body, done) => {
      const buffer = body as Buffer;
      (req as { rawBody?: Buffer }).rawBody = buffer;
      try {
        done(null, parseMultipartFields(buffer, req.headers['content-type'] ?? ''));
      } catch (err) {
        done(err as Error, undefined);
      }
    },
  );
}
