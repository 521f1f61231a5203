import { Module } from '@nestjs/common';
import { ClientCodes } from './client-codes.service';
import { ContactResolver } from './contact-resolver.service';

@Module({ providers: [ContactResolver, ClientCodes], exports: [ContactResolver, ClientCodes] })
export class ContactsModule {}
