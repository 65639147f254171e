// A `cli.ts serve --port 0` child process for the benches: resolves with its URL once it prints it.
const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** Starts `cli.ts serve --port 0 ...args`; its stderr is dropped. */
export async function startServe(args: string[]): Promise<{ url: string; process: Deno.ChildProcess }> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "serve", "--port", "0", ...args],
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening on (\S+)\//.test(text)) {
    const { done, value } = await lines.read();
    if (done) throw new Error("serve exited before listening");
    text += value;
  }
  lines.cancel().catch(() => {});
  return { url: /listening on (\S+)\//.exec(text)![1], process };
}
