// How the agent's failures reach the harness: the exact call, errno and fd
// it reported, and the typed harness error that stands for it.
import { ConfigError, HarnessError, InfraError, TestFailure, Unsupported } from '../errors.ts';
import type { Infer } from './schema.ts';

/** What the agent prints after `"ok":false`. */
export const errorSpec = {
  op: 'string',
  errno: 'number',
  errno_name: 'string',
  message: 'string',
  fd: 'number|null',
  target_fd: 'number|null',
} as const;
export type AgentErrorInfo = Infer<typeof errorSpec>;

/** The agent answered `{"ok":false}`: exactly which call failed, with which errno, on which fd. */
export class AgentOpError extends Error {
  readonly verb: string;
  readonly op: string;
  readonly errno: number;
  readonly errnoName: string;
  /** The fd the failing call acted on (an ioctl's first argument), if any. */
  readonly fd: number | null;
  /** The fd handed to the kernel as an argument (PRESERVE_FD's fd), if any. */
  readonly targetFd: number | null;

  constructor(verb: string, info: AgentErrorInfo) {
    super(`luo-agent ${verb}: ${info.op} failed with ${info.errno_name} (${info.errno})${info.fd === null ? '' : ` on fd ${info.fd}`}: ${info.message}`);
    this.name = 'AgentOpError';
    this.verb = verb;
    this.op = info.op;
    this.errno = info.errno;
    this.errnoName = info.errno_name;
    this.fd = info.fd;
    this.targetFd = info.target_fd;
  }
}

/** The agent's output is not a reply at all: not one JSON object, a wrong verb, a missing field. */
export class AgentProtocolError extends InfraError {}

/** The harness error an agent failure stands for; the AgentOpError stays as `cause`. A refused preservation is judged by the client, which knows the kernel's config. */
export function harnessErrorFor(error: AgentOpError): HarnessError {
  const options = { cause: error };
  if (error.op === 'connect' || error.op === 'socket' || error.op === 'recv') {
    return new InfraError(`The luo-agent daemon in the guest is not reachable (${error.op}: ${error.errnoName}); init should start it before networking.`, options);
  }
  if (error.op === 'argument') {
    return new ConfigError(`The harness sent luo-agent ${error.verb} a request it rejects: ${error.message}`, options);
  }
  if (error.op === 'open' && error.errnoName === 'ENOENT' && error.message.includes('/dev/liveupdate')) {
    return new Unsupported('The kernel exposes no /dev/liveupdate: it needs CONFIG_LIVEUPDATE and `liveupdate=on` (with KHO enabled).', options);
  }
  return new TestFailure(error.message, options);
}

