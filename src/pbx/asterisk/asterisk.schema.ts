import { IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { RecordsAllCalls } from '../source-config';

export const DEFAULT_AMI_PORT = 5038;

/** The AMI port of a source's config (the default when unset). */
export function amiPort(config: { port?: unknown }): number {
  return typeof config.port === 'number' ? config.port : DEFAULT_AMI_PORT;
}

export class AsteriskSourceConfig {
  @IsString()
  @Length(1, 255)
  host: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  port?: number = DEFAULT_AMI_PORT;

  @IsOptional()
  @IsString()
  @Length(1, 1000)
  recordingUrlTemplate?: string;

  /** Dialplan context click-to-call rings the agent through (`Local/<ext>@<context>`). */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,80}$/)
  originateContext?: string;

  /** The PBX records every call (privacy mode's resolve relies on it). */
  @RecordsAllCalls()
  recordsAllCalls?: boolean;
}

export class AsteriskCredentials {
  @IsString()
  @Length(1, 200)
  username: string;

  @IsString()
  @Length(1, 200)
  secret: string;
}
