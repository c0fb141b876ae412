import { sha256Hex } from "../auth/key-hash";
import type { VectorMetadata } from "../vectors/metadata-filter";
import type { VectorRecord } from "../vectors/vector-store";
import type { Chunk } from "./chunking";

/** Fields the gateway keeps on every chunk; a document's own metadata may not use these names. */
export const CHUNK_FIELDS: ReadonlySet<string> = new Set(["scope", "expires_at", "collection", "doc_id", "chunk", "section", "text"]);

/** Collection chunks never expire on their own: a re-ingest or a delete removes them. */
const NEVER = 8_640_000_000_000_000;
/** Vectorize keeps at most 10 KiB of metadata per vector; a chunk's text stays well under it. */
const MAX_TEXT_CHARS = 6000;

/** Semantic-cache scopes are hex hashes; this prefix can never collide with one. */
export const collectionScope = (collectionId: string) => `collection:${collectionId}`;

/**
 * A chunk's id names its collection, document, content and position, hashed to fit Vectorize's
 * 64-byte ids; ids are unique across tenants, since a collection id is.
 */
export const chunkId = async (collectionId: string, docId: string, contentHash: string, index: number) => `ch_${(await sha256Hex(`${collectionId}\u0000${docId}\u0000${contentHash}\u0000${index}`)).slice(0, 40)}`;

export async function chunkRecords(collectionId: string, docId: string, contentHash: string, chunks: Chunk[], vectors: number[][], metadata: VectorMetadata | undefined): Promise<VectorRecord[]> {
  return Promise.all(
    chunks.map(async (chunk, i) => ({
      id: await chunkId(collectionId, docId, contentHash, chunk.index),
      values: vectors[i] ?? [],
      scope: collectionScope(collectionId),
      expiresAt: NEVER,
      metadata: { ...metadata, collection: collectionId, doc_id: docId, chunk: chunk.index, section: chunk.section.slice(0, 200), text: chunk.text.slice(0, MAX_TEXT_CHARS) },
    })),
  );
}
