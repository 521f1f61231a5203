import { Injectable } from '@nestjs/common';
import type { PbxAdapter } from './pbx-adapter';

/** The PBX adapters of this hub; each vendor module registers its own when it starts. */
@Injectable()
export class PbxAdapters {
  private readonly adapters = new Map<string, PbxAdapter>();

  register(adapter: PbxAdapter): void {
    if (this.adapters.has(adapter.type)) {
      throw new Error(`PBX adapter "${adapter.type}" is registered twice`);
    }
    this.adapters.set(adapter.type, adapter);
  }

  get(type: string): PbxAdapter | undefined {
    return this.adapters.get(type);
  }

  types(): string[] {
    return [...this.adapters.keys()];
  }

  /** Every adapter, in the order they registered. */
  all(): PbxAdapter[] {
    return [...this.adapters.values()];
  }
}
