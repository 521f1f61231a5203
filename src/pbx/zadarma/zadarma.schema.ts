import { IsOptional, IsString, IsUrl, Length } from 'class-validator';

export class ZadarmaSourceConfig {
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  apiUrl?: string = 'https://api.zadarma.com';
}

export class ZadarmaCredentials {
  @IsString()
  @Length(1, 200)
  key: string;

  @IsString()
  @Length(1, 200)
  secret: string;
}
