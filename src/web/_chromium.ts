// A headless Chromium driven over the DevTools protocol (CDP) with Deno's own
// WebSocket, for the preview page's test and screenshot tool: no npm browser
// driver, just the few commands they need (navigate, evaluate, screenshot).
import { join } from "node:path";

/**
 * The Chromium to drive: `$CHROMIUM` when set, else the first of `chromium`,
 * `chromium-browser`, `google-chrome` on `PATH`; undefined when there is none.
 *
 * @example A path or nothing
 * ```ts
 * import assert from "node:assert/strict";
 * import { findChromium } from "./_chromium.ts";
 * const binary = findChromium();
 * assert.ok(binary === undefined || binary.length > 0);
 * ```
 */
export function findChromium(): string | undefined {
  const named = Deno.env.get("CHROMIUM");
  if (named) return named;
  for (const directory of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
      const path = join(directory || ".", name);
      try {
        if (Deno.statSync(path).isFile) return path;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** A Chromium started headless, with its DevTools endpoint; {@linkcode Chromium.close} ends it. */
export class Chromium {
  /** `http://127.0.0.1:PORT` of its DevTools endpoint. */
  readonly endpoint: string;
  #process: Deno.ChildProcess;
  #profile: string;
  #log: string[];

  private constructor(endpoint: string, process: Deno.ChildProcess, profile: string, log: string[]) {
    this.endpoint = endpoint;
    this.#process = process;
    this.#profile = profile;
    this.#log = log;
  }

  /** Starts `binary` headless on a fresh profile and waits for its DevTools port (30 s at most). */
  static async launch(binary: string): Promise<Chromium> {
    const profile = await Deno.makeTempDir({ prefix: "vec2face-chromium-" });
    const process = new Deno.Command(binary, {
      args: [
        "--headless=new",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
        "--no-first-run",
        "--no-default-browser-check",
        "--enable-unsafe-webgpu",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // stderr is read to its end (a full pipe would stall the browser); its last lines explain a failure.
    const log: string[] = [];
    const { promise: announced, resolve: announce } = Promise.withResolvers<string>();
    (async () => {
      let pending = "";
      for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          log.push(line);
          if (log.length > 200) log.shift();
          const port = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(line)?.[1];
          if (port) announce(`http://127.0.0.1:${port}`);
        }
      }
    })().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 30_000));
    const endpoint = await Promise.race([announced, process.status.then(() => undefined), timeout]);
    clearTimeout(timer);
    const browser = new Chromium(endpoint ?? "", process, profile, log);
    if (endpoint === undefined) {
      await browser.close();
      throw new Error(`Cannot start ${binary}: current output has no DevTools port:\n${log.slice(-10).join("\n")}`);
    }
    return browser;
  }

  /** The browser's last lines of output (for a failure's message). */
  get log(): string {
    return this.#log.slice(-20).join("\n");
  }

  /** Connects to the browser's first page. */
  async page(): Promise<CdpPage> {
    const targets: { type: string; webSocketDebuggerUrl: string }[] = await (await fetch(`${this.endpoint}/json/list`))
      .json();
    const target = targets.find((candidate) => candidate.type === "page");
    if (!target) throw new Error(`Cannot find a page target: current targets are ${JSON.stringify(targets)}`);
    return await CdpPage.connect(target.webSocketDebuggerUrl);
  }

  /** Ends the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      this.#process.kill("SIGTERM");
    } catch {
      // already ended
    }
    await this.#process.status;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** One page over a CDP WebSocket: commands by id, the page's console and errors kept for messages. */
export class CdpPage {
  #socket: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #listeners = new Map<string, ((params: Record<string, unknown>) => void)[]>();
  /** Console lines and uncaught errors of the page, in order. */
  readonly console: string[] = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id !== undefined) {
        const waiting = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) waiting?.reject(new Error(`CDP: ${JSON.stringify(message.error)}`));
        else waiting?.resolve(message.result);
        return;
      }
      for (const listener of this.#listeners.get(message.method) ?? []) listener(message.params);
    };
    socket.onclose = () => {
      for (const waiting of this.#pending.values()) waiting.reject(new Error("CDP: the connection closed"));
      this.#pending.clear();
    };
  }

  /** Connects to a page's WebSocket and enables its page and runtime events. */
  static async connect(url: string): Promise<CdpPage> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    const page = new CdpPage(socket);
    page.on("Runtime.consoleAPICalled", (params) => {
      const args = params.args as { value?: unknown; description?: string }[];
      page.console.push(`${params.type}: ${args.map((arg) => arg.value ?? arg.description).join(" ")}`);
    });
    page.on("Runtime.exceptionThrown", (params) => {
      const details = params.exceptionDetails as { text: string; exception?: { description?: string } };
      page.console.push(`uncaught: ${details.exception?.description ?? details.text}`);
    });
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    return page;
  }

  /** Calls `listener` on every event of this method. */
  on(method: string, listener: (params: Record<string, unknown>) => void): void {
    this.#listeners.set(method, [...(this.#listeners.get(method) ?? []), listener]);
  }

  /** Sends a command; resolves with its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    this.#socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Opens `url` and waits for its load event. */
  async navigate(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => this.on("Page.loadEventFired", () => resolve()));
    const result = await this.send("Page.navigate", { url });
    if (result.errorText) throw new Error(`Cannot open ${url}: ${result.errorText}`);
    await loaded;
  }

  /** Evaluates an expression in the page, awaiting a promise; resolves with its value (JSON). */
  async evaluate(expression: string): Promise<unknown> {
    const result = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    const details = result.exceptionDetails as { text: string; exception?: { description?: string } } | undefined;
    if (details) {
      throw new Error(
        `Cannot evaluate ${expression.slice(0, 200)}: ${details.exception?.description ?? details.text}\n` +
          this.console.slice(-10).join("\n"),
      );
    }
    return (result.result as { value?: unknown }).value;
  }

  /** A PNG of the page at this viewport size. */
  async screenshot(width: number, height: number): Promise<Uint8Array> {
    await this.send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }

  /** Closes the connection. */
  close(): void {
    this.#socket.close();
  }
}
