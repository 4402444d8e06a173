import { crc32, deflateRawSync } from "node:zlib";

/** One entry, with every field a hostile archive might lie about open to override. */
export interface RawEntry {
  name: string;
  data?: Buffer | string;
  /** Written in both headers; 8 (the default) deflates `data`, anything else stores it as-is. */
  method?: number;
  /** General-purpose flags; default 0x0800 (UTF-8 names). */
  flags?: number;
  crc?: number;
  /** Uncompressed size written in both headers (a lying header). */
  declaredSize?: number;
  /** Unix mode in the high 16 bits of the external attributes (0o120777: symlink). */
  mode?: number;
  /** Name in the local header when it should differ from the central directory's. */
  localName?: string;
  /** Appends a data descriptor (and sets flag bit 3), as streaming zip writers do. */
  descriptor?: boolean;
  /**
   * The next entry's local header and data become this entry's data, stored: the two entries
   * overlap, as in a non-recursive zip bomb.
   */
  quoteNext?: boolean;
}

export interface RawZipOptions {
  /** Bytes before the first local header (a self-extracting stub). */
  prefix?: Buffer;
  comment?: string;
  /** Disk numbers in the end record (non-zero: a split archive). */
  disk?: number;
  /** Entry count written in the end record, when it should lie. */
  entryCount?: number;
}

interface Local {
  entry: RawEntry;
  header: Buffer;
  payload: Buffer;
  crc: number;
  size: number;
  method: number;
  flags: number;
  offset: number;
}

/** A zip archive built byte by byte (APPNOTE 4.3), for archives no real tool would write. */
export function rawZip(entries: RawEntry[], options: RawZipOptions = {}): Buffer {
  const locals = entries.map(localOf);
  const parts: Buffer[] = [];
  let offset = options.prefix?.length ?? 0;
  if (options.prefix) parts.push(options.prefix);
  for (let i = 0; i < locals.length; i++) {
    const local = locals[i]!;
    const next = locals[i + 1];
    if (local.entry.quoteNext && next) {
      // this entry's stored data is the next entry, which then lives inside it
      local.payload = Buffer.concat([next.header, next.payload]);
      local.crc = crc32(local.payload);
      local.size = local.payload.length;
      local.method = 0;
      local.header = localHeader(local);
      local.offset = offset;
      next.offset = offset + local.header.length;
      parts.push(local.header, local.payload);
      offset += local.header.length + local.payload.length;
      i++;
      continue;
    }
    local.offset = offset;
    parts.push(local.header, local.payload);
    offset += local.header.length + local.payload.length;
  }
  const central = Buffer.concat(locals.map(centralHeader));
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(options.disk ?? 0, 4);
  end.writeUInt16LE(options.disk ?? 0, 6);
  end.writeUInt16LE(options.entryCount ?? locals.length, 8);
  end.writeUInt16LE(options.entryCount ?? locals.length, 10);
  end.writeUInt32LE(central.length, 12);
  end.writeUInt32LE(offset, 16);
  const comment = Buffer.from(options.comment ?? "", "utf8");
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...parts, central, end, comment]);
}

function localOf(entry: RawEntry): Local {
  const data = Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data ?? "", "utf8");
  const method = entry.method ?? 8;
  const payload = method === 8 ? deflateRawSync(data) : data;
  const descriptor = entry.descriptor ? Buffer.alloc(16) : Buffer.alloc(0);
  const local: Local = {
    entry,
    header: Buffer.alloc(0),
    payload,
    crc: entry.crc ?? crc32(data),
    size: entry.declaredSize ?? data.length,
    method,
    flags: (entry.flags ?? 0x0800) | (entry.descriptor ? 0x8 : 0),
    offset: 0,
  };
  if (entry.descriptor) {
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(local.crc >>> 0, 4);
    descriptor.writeUInt32LE(payload.length, 8);
    descriptor.writeUInt32LE(local.size, 12);
    local.payload = Buffer.concat([payload, descriptor]);
  }
  local.header = localHeader(local);
  return local;
}

function compressedLength(local: Local): number {
  return local.payload.length - (local.entry.descriptor ? 16 : 0);
}

function localHeader(local: Local): Buffer {
  const name = Buffer.from(local.entry.localName ?? local.entry.name, "utf8");
  const header = Buffer.alloc(30);
  const sizesKnown = !local.entry.descriptor;
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt16LE(local.flags, 6);
  header.writeUInt16LE(local.method, 8);
  header.writeUInt16LE(0x21, 12);
  header.writeUInt32LE(sizesKnown ? local.crc >>> 0 : 0, 14);
  header.writeUInt32LE(sizesKnown ? compressedLength(local) : 0, 18);
  header.writeUInt32LE(sizesKnown ? local.size : 0, 22);
  header.writeUInt16LE(name.length, 26);
  return Buffer.concat([header, name]);
}

function centralHeader(local: Local): Buffer {
  const name = Buffer.from(local.entry.name, "utf8");
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE((3 << 8) | 20, 4);
  header.writeUInt16LE(20, 6);
  header.writeUInt16LE(local.flags, 8);
  header.writeUInt16LE(local.method, 10);
  header.writeUInt16LE(0x21, 14);
  header.writeUInt32LE(local.crc >>> 0, 16);
  header.writeUInt32LE(compressedLength(local), 20);
  header.writeUInt32LE(local.size, 24);
  header.writeUInt16LE(name.length, 28);
  const mode = local.entry.mode ?? (local.entry.name.endsWith("/") ? 0o040755 : 0o100644);
  header.writeUInt32LE((mode << 16) >>> 0, 38);
  header.writeUInt32LE(local.offset, 42);
  return Buffer.concat([header, name]);
}
