import { IsDefined, IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { BadRequestException } from '@nestjs/common';
import { validateVendorFields } from '../../common/validation';

/**
 * The posts of the "universal CRM API" (spec §3.1), one DTO per `cmd`. Every field arrives as
 * a string. Unknown fields are accepted and ignored, as for Zadarma: the platform adds fields
 * (second_callid, groupRealName, …) and a 400 would lose the tenant's calls.
 */

export const VATS_COMMANDS = ['contact', 'event', 'history', 'rating'] as const;
export type VatsCommand = (typeof VATS_COMMANDS)[number];
export const VATS_EVENT_TYPES = [
  'INCOMING',
  'ACCEPTED',
  'COMPLETED',
  'CANCELLED',
  'OUTGOING',
  'TRANSFERRED',
] as const;
export type VatsEventType = (typeof VATS_EVENT_TYPES)[number];

export type VatsFields = Record<string, string | undefined>;

const REQUIRED = { message: '$property is required' };
const CALL_ID = /^[\x21-\x7e]{1,72}$/;
const CALL_ID_MESSAGE = { message: '$property must be 1-72 printable ASCII characters' };
const EXTENSION = /^[A-Za-z0-9*#._@+-]{1,32}$/;
const EXTENSION_MESSAGE = { message: '$property must be a PBX extension (1-32 characters)' };

class VatsBaseDto {
  @IsIn(VATS_COMMANDS)
  cmd: VatsCommand;

  @IsDefined(REQUIRED)
  @IsString()
  @Matches(CALL_ID, CALL_ID_MESSAGE)
  callid: string;

  // Empty for a hidden caller.
  @IsOptional()
  @IsString()
  @Length(0, 64)
  phone?: string;

  @IsOptional()
  @IsString()
  @Length(0, 64)
  diversion?: string;
}

export class VatsContactDto extends VatsBaseDto {}

class VatsEmployeeDto extends VatsBaseDto {
  /** The employee's PBX login. */
  @IsOptional()
  @IsString()
  @Length(0, 64)
  user?: string;

  @IsOptional()
  @IsString()
  @Matches(EXTENSION, EXTENSION_MESSAGE)
  ext?: string;

  @IsOptional()
  @IsString()
  @Length(0, 64)
  telnum?: string;

  @IsOptional()
  @IsString()
  @Length(0, 200)
  groupRealName?: string;
}

export class VatsEventDto extends VatsEmployeeDto {
  @IsIn(VATS_EVENT_TYPES)
  type: VatsEventType;

  @IsOptional()
  @IsIn(['in', 'out'])
  direction?: 'in' | 'out';
}

export class VatsHistoryDto extends VatsEmployeeDto {
  @IsIn(['in', 'out'])
  type: 'in' | 'out';

  /** Success, missed, Busy, NotAvailable, NotAllowed, Cancel, NotFound, … */
  @IsDefined(REQUIRED)
  @IsString()
  @Length(1, 32)
  status: string;

  @IsDefined(REQUIRED)
  @IsString()
  @Matches(/^\d{8}T\d{6}Z$/, { message: '$property must be a UTC time as YYYYMMDDThhmmssZ' })
  start: string;

  @IsDefined(REQUIRED)
  @IsString()
  @Matches(/^\d{1,6}$/, { message: '$property must be whole seconds' })
  duration: string;

  @IsOptional()
  @IsString()
  @Length(0, 2048)
  @Matches(/^(https?:\/\/\S+)?$/, { message: '$property must be an http(s) URL' })
  link?: string;
}

export class VatsRatingDto extends VatsEmployeeDto {
  @IsDefined(REQUIRED)
  @IsString()
  @Matches(/^\d{1,2}$/, { message: '$property must be a number' })
  rating: string;
}

export type VatsPost = VatsContactDto | VatsEventDto | VatsHistoryDto | VatsRatingDto;

const SCHEMAS: Record<VatsCommand, new () => VatsPost> = {
  contact: VatsContactDto,
  event: VatsEventDto,
  history: VatsHistoryDto,
  rating: VatsRatingDto,
};

export function commandOf(fields: VatsFields): VatsCommand {
  const cmd = fields.cmd;
  if (typeof cmd !== 'string' || !(VATS_COMMANDS as readonly string[]).includes(cmd)) {
    throw new BadRequestException(`cmd must be one of ${VATS_COMMANDS.join(', ')}`);
  }
  return cmd as VatsCommand;
}

export function parsePost(fields: VatsFields): VatsPost {
  const cmd = commandOf(fields);
  return validateVendorFields(SCHEMAS[cmd], fields);
}
