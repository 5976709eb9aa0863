/**
 * Keeps every line the services print during a scenario, with the time it
 * arrived, in a file under the system's temporary directory, for the
 * evidence a failing scenario needs. The path is printed with the summary.
 */

/** A scenario's service log. */
export interface ServiceLog {
  path: string;
  /** For withSystem()'s onLog. */
  onLog(entry: string): void;
  /** Adds a line of the scenario's own ("killing worker"), to place events among the services'. */
  note(text: string): void;
  /** Writes what is buffered and closes the file. */
  close(): void;
}

/** Opens a log file named after the scenario. */
export function serviceLog(scenario: string): ServiceLog {
  const path = `${Deno.makeTempDirSync({ prefix: "catalog-faults-" })}/${scenario}.log`;
  const file = Deno.openSync(path, { create: true, append: true });
  const encoder = new TextEncoder();
  let buffer: string[] = [];
  const flush = () => {
    if (buffer.length === 0) return;
    const text = buffer.join("");
    buffer = [];
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
  };
  let closed = false;
  const add = (entry: string) => {
    if (closed) return;
    buffer.push(`${new Date().toISOString().slice(11, 23)} ${entry}\n`);
    if (buffer.length >= 200) flush();
  };
  return {
    path,
    onLog: add,
    note: (text) => add(`test    | ${text}`),
    close() {
      if (closed) return;
      flush();
      closed = true;
      file.close();
    },
  };
}
