import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import { IsPlainObject } from '../common/validators';
import type { FieldDescription } from '../connector-sdk';
import type { PbxSigning } from './pbx-adapter';

export class CreatePbxSourceDto {
  @ApiProperty({
    example: 'generic',
    description: 'A PBX adapter: generic, zadarma, asterisk, vats (GET /v1/pbx-source-types)',
  })
  @IsString()
  @Matches(/^[a-z][a-z0-9-]{1,15}$/, { message: '$property must be a PBX source type' })
  type: string;

  @ApiProperty({ example: { originateUrl: 'https://pbx.example.com/originate' } })
  @IsPlainObject()
  config: Record<string, unknown>;

  @ApiPropertyOptional({
    description: 'zadarma: {key, secret}; asterisk: {username, secret}. Never returned.',
  })
  @IsOptional()
  @IsPlainObject()
  credentials?: Record<string, unknown>;
}

export class UpdatePbxSourceDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsPlainObject()
  config?: Record<string, unknown>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsPlainObject()
  credentials?: Record<string, unknown>;
}

export interface PbxSourceView {
  id: string;
  type: string;
  config: Record<string, unknown>;
  status: string;
  statusMessage: string | null;
  createdAt: string;
}

/** A PBX source type as GET /v1/pbx-source-types shows it: what an admin fills in, no secrets. */
export interface PbxSourceTypeView {
  type: string;
  displayName: string;
  config: FieldDescription[];
  credentials: FieldDescription[];
  /** Where the PBX sends its webhooks (under /v1/pbx/:tenantId/); null for both when it does not. */
  ingress: { path: string | null; signing: PbxSigning | null };
  canOriginate: boolean;
}

/** What to set on the PBX side so that its webhooks reach the hub. */
export interface PbxWebhookView {
  url: string | null;
  signing: PbxSigning | null;
  /** The tenant's current webhookSecret, for sources signed with X-Hub-Signature. */
  secret?: string;
}
