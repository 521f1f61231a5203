import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsString, Length } from 'class-validator';

/** What a scoped key may do. "pbx": send PBX events (/v1/pbx/:tenantId/events) and ask for routes. */
export const KEY_SCOPES = ['pbx'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

export class CreateTenantKeyDto {
  @ApiProperty({ example: 'asterisk dialplan', minLength: 1, maxLength: 100 })
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiProperty({ enum: KEY_SCOPES, example: 'pbx' })
  @IsIn(KEY_SCOPES)
  scope: KeyScope;
}

export interface TenantKeyView {
  id: string;
  name: string;
  scope: KeyScope;
  createdAt: string;
  /** When the key last authenticated a request (updated at most once a minute per instance). */
  lastUsedAt: string | null;
}

/** The answer to a key's creation: the only time the key itself is shown. */
export interface TenantKeyWithSecret {
  id: string;
  name: string;
  scope: KeyScope;
  key: string;
  createdAt: string;
}
