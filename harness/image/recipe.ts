// The image recipe (images/recipe.json): which host binaries, files,
// directories and device nodes make up the guest initramfs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { repoRoot } from '../paths.ts';

export interface RecipeBinary {
  /** Host command, found on PATH (and the sbin directories). */
  command: string;
  guest: string;
  /** Install the busybox applet links next to it. */
  applets?: boolean;
}

export interface RecipeFile {
  guest: string;
  mode: number;
  /** Relative to the images/ directory; exactly one of source and content. */
  source?: string;
  content?: string;
}

export interface ImageRecipe {
  schema: 1;
  binaries: RecipeBinary[];
  files: RecipeFile[];
  dirs: { guest: string; mode: number }[];
  symlinks: { guest: string; target: string }[];
  devices: { guest: string; mode: number; major: number; minor: number }[];
}

export const imagesDir = join(repoRoot, 'images');
export const defaultRecipePath = join(imagesDir, 'recipe.json');

export async function loadRecipe(path = defaultRecipePath): Promise<ImageRecipe> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`Cannot read the image recipe ${path}.`, { cause });
  }
  return parseRecipe(raw, path);
}

/** Validate a parsed recipe; modes are written as octal strings ("0755"). */
export function parseRecipe(raw: unknown, where = 'image recipe'): ImageRecipe {
  const bad = (what: string): never => {
    throw new ConfigError(`Invalid ${where}: ${what}.`);
  };
  const obj = (v: unknown, what: string) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : bad(`${what} must be an object`);
  const list = (v: unknown, what: string) => (v === undefined ? [] : Array.isArray(v) ? v : bad(`${what} must be a list`));
  const str = (v: unknown, what: string) => (typeof v === 'string' && v !== '' ? v : bad(`${what} must be a non-empty string`));
  const guest = (v: unknown, what: string) => {
    const s = str(v, what);
    return s.startsWith('/') && !s.split('/').includes('..') ? s : bad(`${what} must be an absolute guest path without ".."`);
  };
  const mode = (v: unknown, what: string) =>
    typeof v === 'string' && /^0?[0-7]{3,4}$/.test(v) ? parseInt(v, 8) : bad(`${what} must be an octal string like "0755"`);
  const int = (v: unknown, what: string) => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : bad(`${what} must be a non-negative integer`));

  const r = obj(raw, 'the recipe');
  if (r.schema !== 1) bad('schema must be 1');
  return {
    schema: 1,
    binaries: list(r.binaries, 'binaries').map((b, i) => {
      const o = obj(b, `binaries[${i}]`);
      const cmd = str(o.command, `binaries[${i}].command`);
      if (cmd.includes('/')) bad(`binaries[${i}].command must be a command name, not a path`);
      return { command: cmd, guest: guest(o.guest, `binaries[${i}].guest`), applets: o.applets === true };
    }),
    files: list(r.files, 'files').map((f, i) => {
      const o = obj(f, `files[${i}]`);
      if ((o.source === undefined) === (o.content === undefined)) bad(`files[${i}] needs exactly one of source and content`);
      const file: RecipeFile = { guest: guest(o.guest, `files[${i}].guest`), mode: mode(o.mode, `files[${i}].mode`) };
      if (o.source !== undefined) {
        const s = str(o.source, `files[${i}].source`);
        if (s.startsWith('/') || s.split('/').includes('..')) bad(`files[${i}].source must be relative to images/`);
        file.source = s;
      } else if (typeof o.content === 'string') file.content = o.content;
      else bad(`files[${i}].content must be a string`);
      return file;
    }),
    dirs: list(r.dirs, 'dirs').map((d, i) => {
      const o = obj(d, `dirs[${i}]`);
      return { guest: guest(o.guest, `dirs[${i}].guest`), mode: mode(o.mode, `dirs[${i}].mode`) };
    }),
    symlinks: list(r.symlinks, 'symlinks').map((s, i) => {
      const o = obj(s, `symlinks[${i}]`);
      return { guest: guest(o.guest, `symlinks[${i}].guest`), target: str(o.target, `symlinks[${i}].target`) };
    }),
    devices: list(r.devices, 'devices').map((d, i) => {
      const o = obj(d, `devices[${i}]`);
      return {
        guest: guest(o.guest, `devices[${i}].guest`),
        mode: mode(o.mode, `devices[${i}].mode`),
        major: int(o.major, `devices[${i}].major`),
        minor: int(o.minor, `devices[${i}].minor`),
      };
    }),
  };
}
