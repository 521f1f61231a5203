import { BadRequestException } from '@nestjs/common';
import { IntersectionType } from '@nestjs/swagger';
import { IsDefined, IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { validateVendorFields } from '../../common/validation';
import { isZadarmaEvent, ZADARMA_EVENTS, ZadarmaEvent } from './zadarma-signature';

/** Zadarma's call notifications as they arrive, one DTO per event (PBX-side spec §1.3). */

const REQUIRED = { message: '$property is required' };
const PRINTABLE_ID = /^[\x21-\x7e]{1,100}$/;
const ID_MESSAGE = { message: '$property must be 1-100 printable ASCII characters' };
const EXTENSION = /^[A-Za-z0-9*#._@-]{1,32}$/;
const EXTENSION_MESSAGE = { message: '$property must be a PBX extension (1-32 characters)' };

// Every field arrives as a string (form encoding). Unknown fields are accepted and ignored
// (whitelist strips them, nothing forbids them): Zadarma adds fields to its notifications over
// time (dst_e164, status_code, …) and a 400 would make it re-deliver, and finally drop, every
// call of the tenant. The signature covers only 2-3 fields anyway, so rejecting the rest would
// not make a forged body any less likely.

class ZadarmaBaseDto {
  @IsIn(ZADARMA_EVENTS)
  event: ZadarmaEvent;

  @IsDefined(REQUIRED)
  @IsString()
  @Matches(PRINTABLE_ID, ID_MESSAGE)
  pbx_call_id: string;
}

class ZadarmaTimedDto extends ZadarmaBaseDto {
  @IsDefined(REQUIRED)
  @IsString()
  @Matches(/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}$/, {
    message: '$property must be a "YYYY-MM-DD HH:MM:SS" time',
  })
  call_start: string;
}

class ZadarmaInboundCallDto extends ZadarmaTimedDto {
  // May be empty or a non-number for a hidden caller; such a caller is stored without `from`.
  @IsDefined(REQUIRED)
  @IsString()
  @Length(0, 64)
  caller_id: string;

  @IsDefined(REQUIRED)
  @IsString()
  @Length(0, 64)
  called_did: string;
}

/** NOTIFY_START, NOTIFY_IVR. */
export class ZadarmaInboundDto extends ZadarmaInboundCallDto {
  @IsOptional()
  @IsString()
  @Matches(EXTENSION, EXTENSION_MESSAGE)
  internal?: string;
}

/** NOTIFY_INTERNAL, NOTIFY_INTERNAL_END. */
export class ZadarmaInternalDto extends ZadarmaInboundCallDto {
  @IsDefined(REQUIRED)
  @IsString()
  @Matches(EXTENSION, EXTENSION_MESSAGE)
  internal: string;
}

export class ZadarmaAnswerDto extends ZadarmaTimedDto {
  @IsDefined(REQUIRED)
  @IsString()
  @Length(0, 64)
  caller_id: string;

  @IsDefined(REQUIRED)
  @IsString()
  @Length(1, 64)
  destination: string;

  @IsOptional()
  @IsString()
  @Matches(EXTENSION, EXTENSION_MESSAGE)
  internal?: string;
}

/** The fields NOTIFY_END and NOTIFY_OUT_END share. */
class ZadarmaEndFields {
  @IsDefined(REQUIRED)
  @IsString()
  @Matches(/^\d{1,7}$/, { message: '$property must be a whole number of seconds' })
  duration: string;

  @IsDefined(REQUIRED)
  @IsString()
  @Length(1, 64)
  disposition: string;

  @IsOptional()
  @IsString()
  @Length(0, 16)
  status_code?: string;

  @IsOptional()
  @IsIn(['0', '1'])
  is_recorded?: string;

  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]{0,128}$/, { message: '$property must be printable ASCII' })
  call_id_with_rec?: string;
}

export class ZadarmaEndDto extends IntersectionType(ZadarmaInboundDto, ZadarmaEndFields) {}

export class ZadarmaOutStartDto extends ZadarmaTimedDto {
  @IsDefined(REQUIRED)
  @IsString()
  @Matches(EXTENSION, EXTENSION_MESSAGE)
  internal: string;

  @IsDefined(REQUIRED)
  @IsString()
  @Length(1, 64)
  destination: string;

  @IsOptional()
  @IsString()
  @Length(0, 64)
  caller_id?: string;
}

export class ZadarmaOutEndDto extends IntersectionType(ZadarmaOutStartDto, ZadarmaEndFields) {}

export class ZadarmaRecordDto extends ZadarmaBaseDto {
  @IsDefined(REQUIRED)
  @IsString()
  @Matches(PRINTABLE_ID, ID_MESSAGE)
  call_id_with_rec: string;
}

export type ZadarmaNotification =
  | (ZadarmaInboundDto & { event: 'NOTIFY_START' | 'NOTIFY_IVR' })
  | (ZadarmaInternalDto & { event: 'NOTIFY_INTERNAL' | 'NOTIFY_INTERNAL_END' })
  | (ZadarmaAnswerDto & { event: 'NOTIFY_ANSWER' })
  | (ZadarmaEndDto & { event: 'NOTIFY_END' })
  | (ZadarmaOutStartDto & { event: 'NOTIFY_OUT_START' })
  | (ZadarmaOutEndDto & { event: 'NOTIFY_OUT_END' })
  | (ZadarmaRecordDto & { event: 'NOTIFY_RECORD' });

const SCHEMAS: Record<ZadarmaEvent, new () => object> = {
  NOTIFY_START: ZadarmaInboundDto,
  NOTIFY_IVR: ZadarmaInboundDto,
  NOTIFY_INTERNAL: ZadarmaInternalDto,
  NOTIFY_INTERNAL_END: ZadarmaInternalDto,
  NOTIFY_ANSWER: ZadarmaAnswerDto,
  NOTIFY_END: ZadarmaEndDto,
  NOTIFY_OUT_START: ZadarmaOutStartDto,
  NOTIFY_OUT_END: ZadarmaOutEndDto,
  NOTIFY_RECORD: ZadarmaRecordDto,
};

/** The form fields of a notification (repeated keys arrive as arrays and fail validation). */
export type ZadarmaFields = Readonly<Record<string, string | string[] | undefined>>;

/** The `event` field, or a 400 naming the accepted values. */
export function notificationEvent(fields: ZadarmaFields): ZadarmaEvent {
  const event = fields.event;
  if (!isZadarmaEvent(event)) {
    throw new BadRequestException(`event must be one of ${ZADARMA_EVENTS.join(', ')}`);
  }
  return event;
}

/** Validates a notification against its event's schema; a 400 names every bad or missing field. */
export function parseNotification(fields: ZadarmaFields): ZadarmaNotification {
  const event = notificationEvent(fields);
  return validateVendorFields(SCHEMAS[event], fields) as ZadarmaNotification;
}
