// The rooms of the harness and their order. A room imports only rooms of a
// lower rank (and the root files: errors.ts, paths.ts, rooms.ts): data flows
// one way, recipe -> artifact -> image -> machine/target -> SSH -> agent ->
// live VM -> scenario/selftest -> run -> command line. Rooms of one rank do
// not import each other. tests/unit/layout.test.ts holds every import to it.
export const ROOMS = {
  util: 0, //      small shared helpers: hashes, locks, progress, sizes
  report: 0, //    the result model and everything that reads it: JSON, JUnit, TAP, Markdown, HTML, stats, the gate, history, shards
  kernel: 1, //    recipe -> source -> patches -> config -> build -> artifact store; refs, capabilities, selftest build
  image: 2, //     guest initramfs, the agent binary, per-run keys
  vm: 2, //        QEMU: command line, machine lifecycle, console monitor
  coverage: 2, //  a coverage kernel's counters: read at the kexec (QEMU's debugger stub) and from debugfs, lcov tracefiles, per-patch lines
  guest: 3, //     SSH sessions into a guest, reconnect across kexec
  target: 4, //    the machine under test as scenarios see it: a QEMU machine, or a remote host over SSH and its serial console
  agent: 4, //     the host half of the in-guest agent: protocol, errors, client
  liveupdate: 5, // a booted guest ready for live update: boot, kexec, command line, blackout, restore checks
  scenario: 6, //  the scenario framework, typed parameters, suites, the scenarios
  kselftest: 6, // the kernel's own selftests: discovery, plan, staged run, KTAP, results
  fuzz: 6, //      model-based fuzzing of the LUO uAPI across kexec
  run: 7, //       planning and the run session every run command shares
  cli: 8, //       one file per command: flags in, library calls, printing
} as const;

export type Room = keyof typeof ROOMS;
