// The wiring of protocols: which are installed, in the order the server asks them, and their config sections.
import { aptConfigSchema } from './apt/apt-config.ts';
import { aptProtocolModule } from './apt/apt-protocol.ts';
import { ociConfigSchema } from './oci/oci-config.ts';
import { ociProtocolModule } from './oci/oci-protocol.ts';
import type { ProtocolModule } from './protocol.ts';
import { imagesConfigSchema } from './simplestreams/simplestreams-config.ts';
import { simplestreamsProtocolModule } from './simplestreams/simplestreams-protocol.ts';

/**
 * Asked in this order; the first whose route answers claims a request. Image streams claim only
 * `/images/<configured name>/`; apt, the catch-all, stays last.
 */
export const protocolModules: readonly ProtocolModule[] = [ociProtocolModule, simplestreamsProtocolModule, aptProtocolModule];

/**
 * One section per protocol at the root of the configuration, under the protocol's name; image streams
 * are configured under `images:` (what operators call them), by upstream name.
 */
export const protocolConfigSections = {
  oci: ociConfigSchema.prefault({}),
  images: imagesConfigSchema,
  apt: aptConfigSchema.prefault({}),
};
