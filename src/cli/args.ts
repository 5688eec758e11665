import { LifeboatError } from '../core/errors.ts';
import type { TraceRecorder } from '../diagnostics/trace-recorder.ts';

/** Where a command writes; tests pass collectors, main.ts passes process.stdout/stderr. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** The command line after the command name, parsed. */
export interface ParsedArgs {
  /** The command name as typed (undefined when none was given). */
  readonly command: string | undefined;
  /** Non-option arguments after the command name. */
  readonly positionals: readonly string[];
  /** Every option by long name: `--name value`, `--name=value`, or `true` for a boolean switch. */
  readonly options: ReadonlyMap<string, string | true>;
  readonly io: CliIo;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The value of `--name`; throws a usage error if it was given as a bare switch. */
  string(name: string): string | undefined;
  /** Whether the boolean switch `--name` was given. */
  flag(name: string): boolean;
  /** `--trace FILE`: the session's diagnostics recorder (runCli writes it out at exit). */
  readonly trace?: TraceRecorder;
}

/** One CLI command; each lives in src/cli/commands/<name>.ts and is listed in commands/index.ts. */
export interface CliCommand {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full usage text shown by `help <name>` and `<name> --help`. */
  readonly usage: string;
  /** Long names of the command's boolean switches (everything else takes a value). */
  readonly flags?: readonly string[];
  run(args: ParsedArgs): Promise<number>;
}

/** Options every command understands. */
export const GLOBAL_FLAGS = ['help'] as const;
export const GLOBAL_OPTIONS_USAGE = [
  '  --usbmuxd ADDRESS  usbmuxd socket: UNIX:/path or host:port (default $USBMUXD_SOCKET_ADDRESS, else /var/run/usbmuxd)',
  '  -u, --udid UDID    which device, when more than one is attached',
  '  --trace FILE       record a redacted diagnostics trace of the session into FILE (replay: npm run virtual-iphone -- --replay FILE)',
  '  -h, --help         show help',
].join('\n');

const SHORT_ALIASES: Readonly<Record<string, string>> = { u: 'udid', h: 'help' };

export class UsageError extends LifeboatError {
  constructor(message: string, action = 'Run `npm run cli -- help` for the commands and their options.') {
    super('unsupported', message, { action });
  }
}

/**
 * Parses argv (without node and the script). The first positional is the command name. Options may
 * come anywhere; `--` ends them. Names in `booleanFlags` never consume a value.
 */
export function parseArgs(
  argv: readonly string[],
  booleanFlags: readonly string[] = GLOBAL_FLAGS,
  io: CliIo = { out: () => undefined, err: () => undefined },
  env: Readonly<Record<string, string | undefined>> = {},
): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  const booleans = new Set(booleanFlags);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string;
    let value: string | undefined;
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      name = arg.slice(2, eq === -1 ? undefined : eq);
      value = eq === -1 ? undefined : arg.slice(eq + 1);
    } else if (/^-[A-Za-z]$/.test(arg)) {
      name = SHORT_ALIASES[arg[1]!] ?? arg[1]!;
    } else {
      positionals.push(arg);
      continue;
    }
    if (booleans.has(name)) {
      if (value !== undefined) throw new UsageError(`--${name} does not take a value`);
      options.set(name, true);
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next.length > 1)) options.set(name, true);
      else {
        value = next;
        i++;
      }
    }
    if (value !== undefined) options.set(name, value);
  }
  const [command, ...rest] = positionals;
  return {
    command,
    positionals: rest,
    options,
    io,
    env,
    string(name) {
      const v = options.get(name);
      if (v === true) throw new UsageError(`--${name} needs a value`);
      return v;
    },
    flag(name) {
      return options.get(name) === true;
    },
  };
}
