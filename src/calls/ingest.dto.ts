import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import {
  CallDirection,
  CallResult,
  DIRECTIONS,
  EVENT_TYPES,
  EventType,
  RESULTS,
} from './call-event';
import { IsEventTime } from '../common/validators';

export const MAX_BATCH = 500;
export const EVENT_ID_FORMAT = /^[\x21-\x7e]{1,128}$/;
/** An extension, or the outside number a forwarded call rang or was answered at (+E.164). */
export const EXTENSION_FORMAT = /^\+?[A-Za-z0-9*#._@-]{1,32}$/;
export const TIME_ZONE_SUFFIX = /(Z|[+-]\d{2}:?\d{2})$/i;
/** The longest talk time an event may report. */
export const MAX_CALL_DURATION_S = 7 * 86400;

export class IngestEventDto {
  @ApiProperty({ example: 'evt-1', description: 'Unique per tenant; a re-sent id is a duplicate' })
  @IsString()
  @Matches(EVENT_ID_FORMAT, {
    message: '$property must be 1-128 printable ASCII characters without spaces',
  })
  id: string;

  @ApiProperty({ example: 'c-42', description: 'The PBX call id' })
  @IsString()
  @Matches(EVENT_ID_FORMAT, {
    message: '$property must be 1-128 printable ASCII characters without spaces',
  })
  callId: string;

  @ApiProperty({ enum: EVENT_TYPES })
  @IsIn(EVENT_TYPES)
  type: EventType;

  @ApiPropertyOptional({ enum: DIRECTIONS })
  @IsOptional()
  @IsIn(DIRECTIONS)
  direction?: CallDirection;

  @ApiPropertyOptional({ example: '84951234567', description: 'As dialled; normalized to E.164' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  from?: string;

  @ApiPropertyOptional({ example: '+74957654321' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  to?: string;

  @ApiPropertyOptional({
    example: '101',
    description:
      "Required for call.transferred. A forwarded call's outside answerer may be its number (an agent's mobile names the agent)",
  })
  @ValidateIf((o: IngestEventDto) => o.type === 'call.transferred' || o.extension !== undefined)
  @IsString()
  @Matches(EXTENSION_FORMAT, {
    message: '$property must be 1-32 characters of an extension, or a phone number',
  })
  extension?: string;

  @ApiProperty({ example: '2026-11-25T10:00:00Z', description: 'ISO 8601 with a time zone' })
  @IsISO8601({ strict: true })
  @Matches(TIME_ZONE_SUFFIX, { message: '$property must carry a time zone (Z or +03:00)' })
  @IsEventTime()
  at: string;

  @ApiPropertyOptional({ enum: RESULTS, description: 'Required for call.ended' })
  @ValidateIf((o: IngestEventDto) => o.type === 'call.ended' || o.result !== undefined)
  @IsIn(RESULTS)
  result?: CallResult;

  @ApiPropertyOptional({ example: 95, description: 'Talk time in seconds (call.ended)' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_CALL_DURATION_S)
  duration?: number;

  @ApiPropertyOptional({ description: 'Required for call.recording; allowed on call.ended' })
  @ValidateIf((o: IngestEventDto) => o.type === 'call.recording' || o.recordingUrl !== undefined)
  @IsString()
  @Length(1, 2048)
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  recordingUrl?: string;

  @ApiPropertyOptional({ description: 'call.ended: a call.recording event will follow' })
  @IsOptional()
  @IsBoolean()
  recorded?: boolean;
}

export class IngestBatchDto {
  @ApiProperty({ type: [IngestEventDto], maxItems: MAX_BATCH })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH)
  @ValidateNested({ each: true })
  @Type(() => IngestEventDto)
  events: IngestEventDto[];
}

export class IngestResultDto {
  @ApiProperty({ example: 1 })
  accepted: number;
  @ApiProperty({ example: 0 })
  duplicates: number;
}
