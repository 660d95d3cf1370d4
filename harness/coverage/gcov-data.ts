// A kernel's gcov counters as the running kernel holds them, and the .gcda
// file gcov reads. The kernel links one `struct gcov_info` per instrumented
// object into a list (kernel/gcov/gcc_4_7.c, `gcov_info_head`); the harness
// walks that list in guest memory where it cannot ask the kernel (inside
// reboot(), through QEMU's debugger stub), and writes the same .gcda bytes
// the kernel's debugfs files would give.
//
// The layout is GCC's for x86_64 from GCC 12 on (the toolchain the harness
// builds with): 8 counter kinds, and a checksum word after the stamp.

export const GCOV_COUNTERS = 8;
const GCDA_MAGIC = 0x67636461; // "gcda"
const TAG_FUNCTION = 0x01000000;
const tagOfCounter = (kind: number) => (0x01a10000 + (kind << 17)) >>> 0;

export interface GcovFunction {
  ident: number;
  linenoChecksum: number;
  cfgChecksum: number;
  /** One entry per active counter kind, in kind order. */
  counters: { kind: number; values: bigint[] }[];
}

export interface GcovUnit {
  /** The .gcda path the compiler gave the object (absolute, in the build directory). */
  filename: string;
  version: number;
  stamp: number;
  checksum: number;
  functions: GcovFunction[];
}

/** Reads guest memory: `length` bytes at a kernel virtual address. */
export type ReadMemory = (address: bigint, length: number) => Promise<Buffer>;

// struct gcov_info: version u32 (+4), next *, stamp u32, checksum u32, filename *, merge[8] *, n_functions u32 (+4), functions **
const INFO = { version: 0, next: 8, stamp: 16, checksum: 20, filename: 24, merge: 32, nFunctions: 96, functions: 104, size: 112 } as const;
// struct gcov_fn_info: key *, ident u32, lineno_checksum u32, cfg_checksum u32 (+4), ctrs[]: { num u32 (+4), values * }
const FN = { ident: 8, linenoChecksum: 12, cfgChecksum: 16, ctrs: 24, ctrSize: 16 } as const;
/** A bound on the list, so that a wrong address cannot walk forever. */
const MAX_UNITS = 4096;
const MAX_FUNCTIONS = 100_000;
const MAX_COUNTERS = 1 << 22;

/**
 * A reader that fetches whole pages once: the counters and their tables lie
 * close together, and each read is a round trip to QEMU with the guest
 * stopped, so one read per page instead of one per field.
 */
export function pagedReader(read: ReadMemory, pageSize = 4096): ReadMemory {
  const pages = new Map<bigint, Promise<Buffer>>();
  const size = BigInt(pageSize);
  const page = (base: bigint) => {
    if (!pages.has(base)) pages.set(base, read(base, pageSize));
    return pages.get(base)!;
  };
  return async (address, length) => {
    const first = address - (address % size);
    const parts: Buffer[] = [];
    for (let base = first; base < address + BigInt(length); base += size) parts.push(await page(base));
    const offset = Number(address - first);
    return Buffer.concat(parts).subarray(offset, offset + length);
  };
}

async function cString(read: ReadMemory, address: bigint, max = 512): Promise<string> {
  const bytes = await read(address, max);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? max : end).toString('utf8');
}

/**
 * Every instrumented object's counters, from the list head's address (the
 * `gcov_info_head` variable). Throws when the list does not look like one
 * (a version that is not GCC's, counts beyond reason), naming the address.
 */
export async function readGcovList(read: ReadMemory, headAddress: bigint): Promise<GcovUnit[]> {
  const units: GcovUnit[] = [];
  let at = (await read(headAddress, 8)).readBigUInt64LE(0);
  while (at !== 0n) {
    if (units.length >= MAX_UNITS) throw new Error(`the gcov list at 0x${headAddress.toString(16)} has more than ${MAX_UNITS} entries: not a gcov list`);
    const info = await read(at, INFO.size);
    const version = info.readUInt32LE(INFO.version);
    // GCC writes its version as four characters, the major first: a letter from 'A' (10) on.
    if (version >>> 24 < 0x41 || version >>> 24 > 0x5a) throw new Error(`the gcov_info at 0x${at.toString(16)} has version 0x${version.toString(16)}, which no GCC writes`);
    const active: number[] = [];
    for (let k = 0; k < GCOV_COUNTERS; k++) if (info.readBigUInt64LE(INFO.merge + 8 * k) !== 0n) active.push(k);
    const nFunctions = info.readUInt32LE(INFO.nFunctions);
    if (nFunctions > MAX_FUNCTIONS) throw new Error(`the gcov_info at 0x${at.toString(16)} claims ${nFunctions} functions`);
    const table = nFunctions ? await read(info.readBigUInt64LE(INFO.functions), 8 * nFunctions) : Buffer.alloc(0);
    const functions: GcovFunction[] = [];
    for (let f = 0; f < nFunctions; f++) {
      const fnAt = table.readBigUInt64LE(8 * f);
      const fn = await read(fnAt, FN.ctrs + FN.ctrSize * active.length);
      const counters: GcovFunction['counters'] = [];
      for (const [i, kind] of active.entries()) {
        const num = fn.readUInt32LE(FN.ctrs + FN.ctrSize * i);
        if (num > MAX_COUNTERS) throw new Error(`a function of the gcov_info at 0x${at.toString(16)} claims ${num} counters`);
        const raw = num ? await read(fn.readBigUInt64LE(FN.ctrs + FN.ctrSize * i + 8), 8 * num) : Buffer.alloc(0);
        counters.push({ kind, values: Array.from({ length: num }, (_, j) => raw.readBigUInt64LE(8 * j)) });
      }
      functions.push({ ident: fn.readUInt32LE(FN.ident), linenoChecksum: fn.readUInt32LE(FN.linenoChecksum), cfgChecksum: fn.readUInt32LE(FN.cfgChecksum), counters });
    }
    units.push({
      filename: await cString(read, info.readBigUInt64LE(INFO.filename)),
      version,
      stamp: info.readUInt32LE(INFO.stamp),
      checksum: info.readUInt32LE(INFO.checksum),
      functions,
    });
    at = info.readBigUInt64LE(INFO.next);
  }
  return units;
}

/**
 * The .gcda bytes of one unit: magic, version, stamp, checksum, then per
 * function its tag, length (bytes), ident and checksums, and per active
 * counter kind its tag, length and 64-bit values (low word first).
 */
export function encodeGcda(unit: GcovUnit): Buffer {
  const words: number[] = [GCDA_MAGIC, unit.version, unit.stamp, unit.checksum];
  for (const fn of unit.functions) {
    words.push(TAG_FUNCTION, 3 * 4, fn.ident, fn.linenoChecksum, fn.cfgChecksum);
    for (const c of fn.counters) {
      words.push(tagOfCounter(c.kind), c.values.length * 8);
      for (const v of c.values) words.push(Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
    }
  }
  const out = Buffer.alloc(4 * words.length);
  words.forEach((w, i) => out.writeUInt32LE(w >>> 0, 4 * i));
  return out;
}

/** Parses a .gcda file back (the kernel's debugfs files too): what the tests and merges read. */
export function decodeGcda(bytes: Buffer, filename = ''): GcovUnit {
  const word = (i: number) => bytes.readUInt32LE(4 * i);
  if (bytes.length < 16 || word(0) !== GCDA_MAGIC) throw new Error(`${filename || 'a .gcda file'} does not start with the gcda magic`);
  const unit: GcovUnit = { filename, version: word(1), stamp: word(2), checksum: word(3), functions: [] };
  let i = 4;
  const total = bytes.length / 4;
  while (i + 2 <= total) {
    const tag = word(i);
    const length = word(i + 1) / 4;
    i += 2;
    if (tag === TAG_FUNCTION && length >= 3) {
      unit.functions.push({ ident: word(i), linenoChecksum: word(i + 1), cfgChecksum: word(i + 2), counters: [] });
    } else if (((tag - 0x01a10000) & 0x1ffff) === 0 && tag >= 0x01a10000 && unit.functions.length) {
      const kind = (tag - 0x01a10000) >>> 17;
      const values = Array.from({ length: length / 2 }, (_, j) => BigInt(word(i + 2 * j)) | (BigInt(word(i + 2 * j + 1)) << 32n));
      unit.functions.at(-1)!.counters.push({ kind, values });
    }
    i += length;
  }
  return unit;
}
