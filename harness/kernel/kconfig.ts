// Kconfig text: fragments in, .config out, and the check that what a
// fragment asked for survived `olddefconfig` (unmet dependencies drop options
// silently; we refuse to build a kernel that is not what the recipe says).
import { CAPABILITY_OPTIONS, type Capability } from './artifact.ts';

/** Option name (without CONFIG_) -> value: 'y', 'm', 'n' (for "is not set"), a number or a quoted string. */
export type KconfigValues = Map<string, string>;

export interface ConfigRequest {
  option: string;
  value: string;
  /** Where the request came from: "liveupdate.config:3". */
  origin: string;
}

const SET = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# CONFIG_([A-Za-z0-9_]+) is not set$/;

/** Parses .config or fragment text. Lines that are neither settings nor comments are errors of `origin`. */
export function parseKconfig(text: string, origin = 'config'): { values: KconfigValues; requests: ConfigRequest[]; errors: string[] } {
  const values: KconfigValues = new Map();
  const requests: ConfigRequest[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const at = `${origin}:${i + 1}`;
    let m: RegExpMatchArray | null;
    if ((m = line.match(SET))) {
      values.set(m[1]!, m[2]!);
      requests.push({ option: m[1]!, value: m[2]!, origin: at });
    } else if ((m = line.match(UNSET))) {
      values.set(m[1]!, 'n');
      requests.push({ option: m[1]!, value: 'n', origin: at });
    } else if (line !== '' && !line.startsWith('#')) {
      errors.push(`${at}: "${line}" is not a Kconfig setting (CONFIG_X=y or "# CONFIG_X is not set")`);
    }
  });
  return { values, requests, errors };
}

/** Later requests win, as in the kernel's merge_config.sh. */
export function mergeRequests(fragments: ConfigRequest[][]): ConfigRequest[] {
  const byOption = new Map<string, ConfigRequest>();
  for (const list of fragments) for (const r of list) byOption.set(r.option, r);
  return [...byOption.values()];
}

export function renderFragment(requests: ConfigRequest[]): string {
  return requests.map((r) => (r.value === 'n' ? `# CONFIG_${r.option} is not set` : `CONFIG_${r.option}=${r.value}`)).join('\n') + '\n';
}

export interface DroppedOption extends ConfigRequest {
  actual: string;
}

/** The requests the final .config does not honour. A missing option counts as 'n'. */
export function unmetRequests(requests: ConfigRequest[], final: KconfigValues): DroppedOption[] {
  return requests
    .map((r) => ({ ...r, actual: final.get(r.option) ?? 'n' }))
    .filter((r) => r.actual !== r.value);
}

export function describeDropped(dropped: DroppedOption[]): string {
  return dropped
    .map((d) => `  CONFIG_${d.option}: requested ${d.value} (${d.origin}), got ${d.actual}${d.actual === 'n' ? ' (unmet dependency or unknown option)' : ''}`)
    .join('\n');
}

export function capabilitiesOf(config: KconfigValues): Record<Capability, boolean> {
  const caps = {} as Record<Capability, boolean>;
  for (const option of CAPABILITY_OPTIONS) caps[option] = config.get(option) === 'y' || config.get(option) === 'm';
  return caps;
}
