/**
 * Runs the `pi` command line in-process with its output captured (as a user at a terminal would
 * see it, or its `--json`), keeping the test process's exit code untouched.
 */
import { runCli } from '../../src/cli/program.ts';
import type { Io } from '../../src/cli/output.ts';

/** What a `pi` command printed and the exit code it would have had. */
export interface PiRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `pi args…` with `env` as its whole environment (none by default: targets are flags). */
export async function runPi(args: string[], env: Record<string, string | undefined> = {}): Promise<PiRun> {
  let out = '';
  let err = '';
  const io: Io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env };
  const saved = process.exitCode;
  const code = await runCli(args, io);
  process.exitCode = saved;
  return { code, out, err };
}
