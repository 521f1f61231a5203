import { Module } from '@nestjs/common';
import { ContactResolver } from './contact-resolver.service';

@Module({ providers: [ContactResolver], exports: [ContactResolver] })
export class ContactsModule {}
