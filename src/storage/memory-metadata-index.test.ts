// Tests of MemoryMetadataIndex: the MetadataIndex contract.
import { metadataIndexContract } from './metadata-index.contract.ts';
import { MemoryMetadataIndex } from './memory-metadata-index.ts';

metadataIndexContract('MemoryMetadataIndex', () => new MemoryMetadataIndex());
