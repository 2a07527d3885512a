// A document registry: owners register a document's 32-byte hash with metadata, transfer ownership, revoke it,
// and anyone can look a document up or list an owner's documents (a storage range over the owner's index).
// A revoked document stays registered (and listed) so that its hash can never be registered again.

import {
  BytesMap,
  Reader,
  Writer,
  blockHeight,
  blockTime,
  bytesEqual,
  caller,
  concat,
  emit,
  ensure,
  returnData,
  revert,
  slice,
  toHex,
} from "../../../sdk";

const MAX_METADATA: i32 = 1024;
/** Most hashes one listByOwner page returns (one more entry is read to find the next page). */
const MAX_PAGE: u32 = 99;

/** hash -> the document record. */
const DOCUMENTS = new BytesMap("doc:");
/** owner || hash -> marker: the owner's index, walked by listByOwner. */
const BY_OWNER = new BytesMap("own:");
const MARK = new Uint8Array(1);

class Document {
  owner: Uint8Array = new Uint8Array(20);
  registeredAt: u64 = 0;
  height: u64 = 0;
  revoked: bool = false;
  metadata: string = "";

  encode(): Uint8Array {
    return new Writer()
      .address(this.owner)
      .u64(this.registeredAt)
      .u64(this.height)
      .bool(this.revoked)
      .string(this.metadata)
      .finish();
  }

  static decode(raw: Uint8Array): Document {
    const r = new Reader(raw);
    const d = new Document();
    d.owner = r.address();
    d.registeredAt = r.u64();
    d.height = r.u64();
    d.revoked = r.bool();
    d.metadata = r.string();
    r.done();
    return d;
  }
}

function find(docHash: Uint8Array): Document | null {
  const raw = DOCUMENTS.get(docHash);
  if (raw === null) return null;
  return Document.decode(changetype<Uint8Array>(raw));
}

/** The document, owned by the caller and not revoked; reverts otherwise. */
function ownedByCaller(docHash: Uint8Array, action: string): Document {
  const found = find(docHash);
  if (found === null) revert("document " + toHex(docHash) + " is not registered");
  const doc = changetype<Document>(found);
  const who = caller();
  ensure(bytesEqual(doc.owner, who), "only the owner " + toHex(doc.owner) + " may " + action + " this document");
  ensure(!doc.revoked, "document " + toHex(docHash) + " is revoked");
  return doc;
}

/** register(hash: bytes32, metadata: string): the caller becomes the document's owner. */
export function register(): void {
  const args = Reader.fromInput();
  const docHash = args.bytes32("hash");
  const metadata = args.string("metadata");
  args.done();
  ensure(String.UTF8.byteLength(metadata) <= MAX_METADATA, "metadata is longer than 1024 bytes");
  ensure(!DOCUMENTS.has(docHash), "document " + toHex(docHash) + " is already registered");
  const doc = new Document();
  doc.owner = caller();
  doc.registeredAt = blockTime();
  doc.height = blockHeight();
  doc.metadata = metadata;
  DOCUMENTS.set(docHash, doc.encode());
  BY_OWNER.set(concat(doc.owner, docHash), MARK);
  emit("Registered", new Writer().bytes32(docHash).address(doc.owner).finish());
}

/** transfer(hash: bytes32, newOwner: address): the owner hands the document over. */
export function transfer(): void {
  const args = Reader.fromInput();
  const docHash = args.bytes32("hash");
  const newOwner = args.address("newOwner");
  args.done();
  const doc = ownedByCaller(docHash, "transfer");
  const previous = doc.owner;
  BY_OWNER.delete(concat(previous, docHash));
  doc.owner = newOwner;
  DOCUMENTS.set(docHash, doc.encode());
  BY_OWNER.set(concat(newOwner, docHash), MARK);
  emit("Transferred", new Writer().bytes32(docHash).address(previous).address(newOwner).finish());
}

/** revoke(hash: bytes32): the owner marks the document revoked (for good). */
export function revoke(): void {
  const args = Reader.fromInput();
  const docHash = args.bytes32("hash");
  args.done();
  const doc = ownedByCaller(docHash, "revoke");
  doc.revoked = true;
  DOCUMENTS.set(docHash, doc.encode());
  emit("Revoked", new Writer().bytes32(docHash).address(doc.owner).finish());
}

/** lookup(hash: bytes32) -> (exists: bool, owner: address, metadata: string, registeredAt, height: u64, revoked: bool) */
export function lookup(): void {
  const args = Reader.fromInput();
  const docHash = args.bytes32("hash");
  args.done();
  const found = find(docHash);
  const w = new Writer();
  if (found === null) {
    w.bool(false).address(new Uint8Array(20)).string("").u64(0).u64(0).bool(false);
  } else {
    const doc = changetype<Document>(found);
    w.bool(true).address(doc.owner).string(doc.metadata).u64(doc.registeredAt).u64(doc.height).bool(doc.revoked);
  }
  returnData(w.finish());
}

/**
 * listByOwner(owner: address, from: bytes, limit: u32) -> (count: u32, hashes: bytes, next: bytes):
 * up to `limit` (1-99) of the owner's document hashes in byte order, starting at `from` (empty: the first);
 * `hashes` concatenates them; `next` is the `from` of the next page, empty on the last page.
 */
export function listByOwner(): void {
  const args = Reader.fromInput();
  const owner = args.address("owner");
  const from = args.bytes("from");
  const limit = args.u32("limit");
  args.done();
  ensure(from.length == 0 || from.length == 32, "from must be empty or a 32-byte hash");
  ensure(limit >= 1 && limit <= MAX_PAGE, "limit must be 1 to " + MAX_PAGE.toString());
  const rows = BY_OWNER.range(owner, from, <i32>limit + 1);
  const count = rows.length < <i32>limit ? rows.length : <i32>limit;
  const hashes = new Writer(count * 32 + 4);
  for (let i = 0; i < count; i++) {
    hashes.bytes32(slice(rows[i].key, 20, 32));
  }
  let next = new Uint8Array(0);
  if (rows.length > <i32>limit) next = slice(rows[<i32>limit].key, 20, 32);
  const all = hashes.finish();
  returnData(new Writer().u32(<u32>count).bytes(all).bytes(next).finish());
}
