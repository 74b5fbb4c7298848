import type { DocumentStore } from '@apollo/server';
import type { DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/** What a document is counted to keep per character of its nodes' JSON: the nodes and their locations, about 2.5 bytes were measured. */
const BYTES_PER_NODE_CHARACTER = 3;
/**
 * What it is counted to keep per token in its chain (`loc.startToken`), comments included: about
 * 115 bytes were measured.
 */
export const BYTES_PER_TOKEN = 128;

/** The tokens graphql-js read from a document's text, comments included: its locations keep every one. */
export function tokensIn(document: DocumentNode): number {
  let tokens = 0;
  for (let token = document.loc?.startToken ?? null; token; token = token.next) tokens++;
  return tokens;
}

/**
 * The memory a parsed document is counted to keep: its nodes, its text, and the chain of tokens
 * its locations hold. Apollo's own store counts only the nodes' JSON, which leaves the text and
 * the tokens out: a short query padded with comments to the body limit is a few hundred bytes of
 * JSON and some 4 MB of tokens, since a comment counts against no limit of the parser.
 */
export function documentSize(document: DocumentNode): number {
  const text = document.loc?.source.body.length ?? 0;
  return Math.max(1, JSON.stringify(document).length * BYTES_PER_NODE_CHARACTER + text + tokensIn(document) * BYTES_PER_TOKEN);
}

/** The memory parsed documents may hold, as `documentSize` counts it: Apollo's default, counted as it is kept. */
const DOCUMENT_STORE_BYTES = 30 * 2 ** 20;

/**
 * Apollo's store of parsed and validated documents, by the hash of their text, which spares a
 * client that sends the same document again its parsing and validation: within `maxBytes` as
 * `documentSize` counts them, the least recently used dropped first, so new documents (one per
 * request, for a client that makes each one new) cannot hold more.
 */
export function boundedDocumentStore(maxBytes = DOCUMENT_STORE_BYTES): DocumentStore {
  const documents = new LRUCache<string, DocumentNode>({ maxSize: maxBytes, sizeCalculation: documentSize });
  return {
    get: async (key) => documents.get(key),
    set: async (key, document) => void documents.set(key, document),
    delete: async (key) => documents.delete(key),
  };
}
