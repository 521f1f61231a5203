import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsISO8601, IsOptional, IsString, Matches } from 'class-validator';

export class ResolveDto {
  @ApiProperty({ example: '101', description: 'The extension that asks (the agent dialling)' })
  @IsString()
  @Matches(/^[A-Za-z0-9*#._@-]{1,32}$/, {
    message: '$property must be 1-32 characters of an extension',
  })
  extension: string;

  @ApiProperty({ example: '482913', description: 'The client code dialled' })
  @IsString()
  @Matches(/^\d{6,12}$/, { message: '$property must be a client code (6-12 digits)' })
  code: string;

  @ApiPropertyOptional({ example: '1733300000.42', description: "The PBX's id of the call" })
  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]{1,128}$/, {
    message: '$property must be 1-128 printable ASCII characters',
  })
  callId?: string;

  @ApiProperty({ description: 'Whether the PBX records this call' })
  // A dialplan's CURL() posts form fields: "true"/"false" are the booleans.
  @Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : value,
  )
  @IsBoolean()
  recorded: boolean;
}

export class ResolveQueryDto {
  @IsOptional()
  @IsIn(['json', 'text'])
  format?: 'json' | 'text';
}

const WITH_ZONE = /(Z|[+-]\d{2}:?\d{2})$/i;

export class AuditQueryDto {
  @IsOptional()
  @IsString()
  @Matches(/^\d{6,12}$/, { message: '$property must be a client code (6-12 digits)' })
  clientCode?: string;

  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(WITH_ZONE, { message: '$property must carry a time zone (Z or +03:00)' })
  from?: string;

  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(WITH_ZONE, { message: '$property must carry a time zone (Z or +03:00)' })
  to?: string;
}

export interface AuditItem {
  at: string;
  /** resolve (the dialplan asked) or originate (click-to-call by code). */
  action: 'resolve' | 'originate';
  extension: string | null;
  clientCode: string | null;
  callId: string | null;
  granted: boolean;
  reason: string;
}
