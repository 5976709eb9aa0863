/** Test helper: runs a Deno command of this repository as a separate process. */

const repository = new URL("..", import.meta.url).pathname;

/** What a finished process printed, and how it ended. */
export interface DenoRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno <args>` (a task, or `run` with a script) from the repository's
 * root, with `env` (and NO_COLOR) over this process's environment, and
 * answers its exit code and output once it has exited.
 */
export async function runDeno(args: string[], env: Record<string, string>): Promise<DenoRun> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: repository,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
