// A deterministic cpio "newc" writer (and a reader, for checks). The kernel's
// initramfs unpacker takes exactly this format. Every header field that is not
// content (inode, mtime, uid, gid, device) is fixed, so equal entries give
// equal bytes.

export type CpioEntry =
  | { type: 'dir'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFMT = 0o170000;
const MAGIC = '070701';
const HEADER_LEN = 110;
const TRAILER = 'TRAILER!!!';

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** Archive paths are relative ("etc/passwd"); leading slashes and "./" are dropped. */
export function normalizeArchivePath(path: string): string {
  const p = path.replace(/^\/+/, '').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (p === '' || p.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw new Error(`invalid archive path ${JSON.stringify(path)}`);
  }
  return p;
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  rdevMajor: number;
  rdevMinor: number;
  nameSize: number;
}): string {
  const hex = (n: number) => {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio field out of range: ${n}`);
    return n.toString(16).padStart(8, '0');
  };
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return (
    MAGIC +
    [fields.ino, fields.mode, 0, 0, fields.nlink, 0, fields.size, 0, 0, fields.rdevMajor, fields.rdevMinor, fields.nameSize, 0]
      .map(hex)
      .join('')
  );
}

function record(ino: number, name: string, mode: number, data: Buffer, nlink: number, rdev = [0, 0]): Buffer[] {
  const nameBuf = Buffer.from(name + '\0', 'utf8');
  const head = Buffer.from(
    header({ ino, mode, nlink, size: data.length, rdevMajor: rdev[0]!, rdevMinor: rdev[1]!, nameSize: nameBuf.length }),
    'ascii',
  );
  return [head, nameBuf, Buffer.alloc(pad4(HEADER_LEN + nameBuf.length)), data, Buffer.alloc(pad4(data.length))];
}

/**
 * Serialize entries in the given order (parents must come before children:
 * the kernel does not create missing directories). Inodes are numbered from 1
 * in order, so the output depends on nothing but the entries.
 */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    const name = normalizeArchivePath(entry.path);
    if (seen.has(name)) throw new Error(`duplicate archive path ${name}`);
    seen.add(name);
    const ino = index + 1;
    switch (entry.type) {
      case 'dir':
        parts.push(...record(ino, name, S_IFDIR | (entry.mode & 0o7777), Buffer.alloc(0), 2));
        break;
      case 'file':
        parts.push(...record(ino, name, S_IFREG | (entry.mode & 0o7777), entry.data, 1));
        break;
      case 'symlink':
        parts.push(...record(ino, name, S_IFLNK | 0o777, Buffer.from(entry.target, 'utf8'), 1));
        break;
      case 'char':
        parts.push(...record(ino, name, S_IFCHR | (entry.mode & 0o7777), Buffer.alloc(0), 1, [entry.major, entry.minor]));
        break;
    }
  });
  parts.push(...record(0, TRAILER, 0, Buffer.alloc(0), 1));
  return Buffer.concat(parts);
}

/** Parse a newc archive back into entries (stops at the trailer). For checks and tests. */
export function readCpio(archive: Buffer): CpioEntry[] {
  const entries: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_LEN > archive.length) throw new Error(`truncated cpio header at offset ${off}`);
    const head = archive.toString('ascii', off, off + HEADER_LEN);
    if (!head.startsWith(MAGIC)) throw new Error(`bad cpio magic at offset ${off}`);
    const field = (i: number) => parseInt(head.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const nameStart = off + HEADER_LEN;
    const name = archive.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + pad4(HEADER_LEN + nameSize);
    const data = archive.subarray(dataStart, dataStart + size);
    if (dataStart + size > archive.length) throw new Error(`truncated cpio data for ${name}`);
    off = dataStart + size + pad4(size);
    if (name === TRAILER) return entries;
    const perm = mode & 0o7777;
    switch (mode & S_IFMT) {
      case S_IFDIR:
        entries.push({ type: 'dir', path: name, mode: perm });
        break;
      case S_IFREG:
        entries.push({ type: 'file', path: name, mode: perm, data: Buffer.from(data) });
        break;
      case S_IFLNK:
        entries.push({ type: 'symlink', path: name, target: data.toString('utf8') });
        break;
      case S_IFCHR:
        entries.push({ type: 'char', path: name, mode: perm, major: field(9), minor: field(10) });
        break;
      default:
        throw new Error(`unsupported cpio entry type ${(mode & S_IFMT).toString(8)} for ${name}`);
    }
  }
}
