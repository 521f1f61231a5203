import { BadRequestException, ValidationPipe } from '@nestjs/common';
import { ClassConstructor, plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';

/** Flattens nested class-validator errors into "path: problem" strings. */
export function describeValidationErrors(errors: ValidationError[], parent = ''): string[] {
  const out: string[] = [];
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      // class-validator prefixes messages with the bare property name; replace it with the full path.
      const text = message.startsWith(`${error.property} `)
        ? message.slice(error.property.length + 1)
        : message;
      out.push(`${path} ${text}`);
    }
    if (error.children?.length) out.push(...describeValidationErrors(error.children, path));
  }
  return out;
}

export const VALIDATOR_OPTIONS = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: false },
} as const;

export function validationException(errors: ValidationError[], prefix = ''): BadRequestException {
  return new BadRequestException(describeValidationErrors(errors, prefix).join('; '));
}

export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    ...VALIDATOR_OPTIONS,
    transform: true,
    exceptionFactory: (errors) => validationException(errors),
  });
}

/** Validates a plain object against a DTO class; throws a 400 naming every bad field. */
export function validateDto<T extends object>(
  cls: ClassConstructor<T>,
  plain: unknown,
  prefix = '',
): T {
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    throw new BadRequestException(`${prefix || 'body'} must be a JSON object`);
  }
  const instance = plainToInstance(cls, plain);
  const errors = validateSync(instance, VALIDATOR_OPTIONS);
  if (errors.length) throw validationException(errors, prefix);
  return instance;
}

/**
 * Validates the form fields of a vendor's webhook against a DTO class. Known fields are
 * checked, unknown ones dropped and not refused: vendors add fields over time, and a 400 would
 * make them re-deliver, and finally drop, every call of the tenant.
 */
export function validateVendorFields<T extends object>(
  cls: ClassConstructor<T>,
  fields: Record<string, unknown>,
): T {
  // Copy onto a plain object: form parsers hand over null-prototype objects.
  const instance = plainToInstance(cls, { ...fields });
  const errors = validateSync(instance, {
    whitelist: true,
    forbidNonWhitelisted: false,
    validationError: { target: false, value: false },
  });
  if (errors.length) throw validationException(errors);
  return instance;
}
