// Reads a Dockerfile into stages and replays its file steps without Docker: each stage gets a
// directory standing in for its root filesystem, COPY copies (from the build context or an
// earlier stage), WORKDIR/ENV/USER are tracked, and RUN lines that are npm commands run for
// real. Other RUN lines (OS packages) are reported as skipped so a test can judge them.

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';

export interface Instruction {
  keyword: string;
  /** The rest of the line, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  image: string;
  name: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions; `ARG`s before the first FROM are substituted into FROM. */
export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (pending !== '' && line.trim().startsWith('#')) return;
    if (pending === '') startLine = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const match = /^(\S+)\s*(.*)$/.exec(full);
    if (match) logical.push({ keyword: (match[1] ?? '').toUpperCase(), args: match[2] ?? '', line: startLine });
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of logical) {
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name, value] = instruction.args.split('=', 2);
      if (name !== undefined && value !== undefined) args[name.trim()] = value.trim();
      continue;
    }
    if (instruction.keyword === 'FROM') {
      const parts = instruction.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const image = (parts[0] ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => args[a ?? b ?? ''] ?? '');
      const asIndex = parts.findIndex((p) => p.toUpperCase() === 'AS');
      stages.push({ image, name: asIndex >= 0 ? (parts[asIndex + 1] ?? String(stages.length)) : String(stages.length), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`line ${instruction.line}: ${instruction.keyword} before FROM`);
    stage.instructions.push(instruction);
  }
  return { args, stages };
}

/** Splits `--flag=value` options off the front of an instruction's arguments. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args.trim();
  for (;;) {
    const match = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (match === null) break;
    flags[match[1] ?? ''] = match[2] ?? '';
    rest = rest.slice(match[0].length);
  }
  return { flags, rest };
}

/** An exec-form (`["a", "b"]`) instruction argument. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new Error(`not an exec-form array: ${args}`);
  return parsed as string[];
}

export interface ReplayedStage {
  name: string;
  image: string;
  /** Directory standing in for the stage's `/`. */
  root: string;
  /** WORKDIR at the end of the stage, as a host path. */
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  cmd: string[] | undefined;
  entrypoint: string[] | undefined;
  /** The HEALTHCHECK's CMD, exec form. */
  healthcheck: string[] | undefined;
  /** Sources copied from the build context (relative to it). */
  copiedFromContext: string[];
  ran: string[];
  skipped: string[];
}

export interface ReplayOptions {
  context: string;
  /** Where the stage directories go (one per stage). */
  into: string;
  /** Extra environment for the npm commands (e.g. prefer the local cache). */
  npmEnv?: Record<string, string>;
  /** Bound on each RUN command. */
  timeoutMs?: number;
}

/** Replays every stage in order; throws when a COPY source is missing or an npm step fails. */
export function replayDockerfile(text: string, options: ReplayOptions): ReplayedStage[] {
  const { stages } = parseDockerfile(text);
  const done: ReplayedStage[] = [];
  stages.forEach((stage, index) => {
    const root = join(options.into, `${index}-${stage.name}`);
    mkdirSync(root, { recursive: true });
    const state: ReplayedStage = {
      name: stage.name,
      image: stage.image,
      root,
      workdir: root,
      env: {},
      user: undefined,
      cmd: undefined,
      entrypoint: undefined,
      healthcheck: undefined,
      copiedFromContext: [],
      ran: [],
      skipped: [],
    };
    let containerWorkdir = '/';
    const hostPath = (containerPath: string): string => join(root, posix.resolve(containerWorkdir, containerPath));
    for (const { keyword, args, line } of stage.instructions) {
      switch (keyword) {
        case 'WORKDIR':
          containerWorkdir = posix.resolve(containerWorkdir, args.trim());
          state.workdir = hostPath('.');
          mkdirSync(state.workdir, { recursive: true });
          break;
        case 'ENV': {
          const pairs = args.includes('=') ? [...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1] ?? '', (m[2] ?? '').replace(/^"|"$/g, '')]) : [args.split(/\s+/, 2)];
          for (const [key, value] of pairs) state.env[key ?? ''] = value ?? '';
          break;
        }
        case 'USER':
          state.user = args.trim();
          break;
        case 'CMD':
          state.cmd = execForm(args);
          break;
        case 'ENTRYPOINT':
          state.entrypoint = execForm(args);
          break;
        case 'HEALTHCHECK': {
          const { rest } = splitFlags(args);
          if (!rest.startsWith('CMD ')) throw new Error(`line ${line}: HEALTHCHECK must use CMD in exec form`);
          state.healthcheck = execForm(rest.slice(4));
          break;
        }
        case 'COPY': {
          const { flags, rest } = splitFlags(args);
          const parts = rest.startsWith('[') ? execForm(rest) : rest.split(/\s+/);
          const dest = parts.pop();
          if (dest === undefined || parts.length === 0) throw new Error(`line ${line}: COPY needs a source and a destination`);
          const from = flags.from;
          const source = from === undefined ? undefined : done.find((s) => s.name === from);
          if (from !== undefined && source === undefined) throw new Error(`line ${line}: COPY --from=${from}: no such earlier stage`);
          const intoDir = dest.endsWith('/') || parts.length > 1;
          for (const src of parts) {
            const srcPath = source === undefined ? join(options.context, src) : join(source.root, src);
            if (source === undefined && isAbsolute(src)) throw new Error(`line ${line}: context sources are relative`);
            if (!existsSync(srcPath)) throw new Error(`line ${line}: COPY source ${src} does not exist`);
            if (source === undefined) state.copiedFromContext.push(src);
            // Docker copies a directory's contents into the destination, a file into it or as it.
            const isDir = statSync(srcPath).isDirectory();
            const target = isDir || !intoDir ? hostPath(dest) : join(hostPath(dest), posix.basename(src));
            mkdirSync(isDir ? target : dirname(target), { recursive: true });
            cpSync(srcPath, target, { recursive: true });
          }
          break;
        }
        case 'RUN': {
          const { rest } = splitFlags(args);
          if (/^npm\s/.test(rest)) {
            try {
              execFileSync('/bin/sh', ['-c', rest], {
                cwd: state.workdir,
                env: { ...process.env, ...state.env, ...options.npmEnv },
                stdio: ['ignore', 'pipe', 'pipe'],
                timeout: options.timeoutMs ?? 300_000,
              });
            } catch (error) {
              const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
              throw new Error(`line ${line}: RUN ${rest} failed:\n${String(stdout ?? '')}${String(stderr ?? '')}`.slice(0, 8000), { cause: error });
            }
            state.ran.push(rest);
          } else {
            state.skipped.push(rest);
          }
          break;
        }
        default:
          break;
      }
    }
    done.push(state);
  });
  return done;
}

/** Reads a .dockerignore into its patterns (comments and blanks dropped). */
export function readDockerignore(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
