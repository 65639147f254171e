// Checks the JSDoc examples of the library: no `console.assert` inside JSDoc
// (it only prints, so `deno test --doc` passes whatever the example computes;
// examples assert with `node:assert/strict`) and a title on every `@example`
// (`@example Sample ten well-separated identities`). Scans the root's .ts files
// (mod.ts, cli.ts and the other entry points), src/**/*.ts and examples/**/*.ts, except tests; lists each problem as file:line and exits 1 if any.
//
//   deno run -R tools/check_doc_examples.ts
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** One problem found in a JSDoc comment. */
export interface DocExampleProblem {
  /** The path given to {@linkcode findDocExampleProblems}. */
  path: string;
  /** 1-based line of the problem. */
  line: number;
  /** What is wrong. */
  message: string;
}

/** A JSDoc comment (`/** ... *\/`) found in source text. */
interface DocComment {
  /** Text of the comment, delimiters included. */
  text: string;
  /** 1-based line on which the comment starts. */
  line: number;
}

// Characters after which a `/` starts a regular expression rather than a division.
const REGEX_AFTER = new Set([..."(,=:[!&|?{};+-*%<>~^"]);

/**
 * The JSDoc comments of TypeScript source: a small scanner that skips strings,
 * template literals, regular expressions and other comments, so `"src/**"` in a
 * string is not taken for a comment.
 */
function docComments(source: string): DocComment[] {
  const comments: DocComment[] = [];
  let line = 1;
  let last = ""; // last significant character of code
  const templateDepth: number[] = []; // brace depth at each open `${`
  let braces = 0;
  let i = 0;
  const n = source.length;
  const advance = (to: number) => {
    for (let k = i; k < to && k < n; k++) if (source[k] === "\n") line++;
    i = Math.min(to, n);
  };
  const skipTemplate = () => {
    // i is just after a backtick or a closing `}` of `${...}`; stops after the closing backtick or at `${`.
    while (i < n) {
      const c = source[i];
      if (c === "\\") advance(i + 2);
      else if (c === "`") {
        advance(i + 1);
        return;
      } else if (c === "$" && source[i + 1] === "{") {
        advance(i + 2);
        templateDepth.push(braces);
        braces++;
        return;
      } else advance(i + 1);
    }
  };
  while (i < n) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      const text = source.slice(i, stop);
      if (text.startsWith("/**") && text !== "/**/") comments.push({ text, line });
      advance(stop);
    } else if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      advance(end < 0 ? n : end);
    } else if (c === "/" && (last === "" || REGEX_AFTER.has(last))) {
      advance(i + 1);
      let inClass = false;
      while (i < n && source[i] !== "\n") {
        const r = source[i];
        if (r === "\\") advance(i + 2);
        else {
          advance(i + 1);
          if (r === "[") inClass = true;
          else if (r === "]") inClass = false;
          else if (r === "/" && !inClass) break;
        }
      }
      last = "/";
    } else if (c === '"' || c === "'") {
      advance(i + 1);
      while (i < n && source[i] !== c && source[i] !== "\n") advance(source[i] === "\\" ? i + 2 : i + 1);
      advance(i + 1);
      last = c;
    } else if (c === "`") {
      advance(i + 1);
      skipTemplate();
      last = "`";
    } else if (c === "{") {
      braces++;
      advance(i + 1);
      last = c;
    } else if (c === "}") {
      braces--;
      advance(i + 1);
      if (templateDepth.length > 0 && templateDepth[templateDepth.length - 1] === braces) {
        templateDepth.pop();
        skipTemplate();
        last = "`";
      } else last = c;
    } else {
      if (!/\s/.test(c)) last = /[\w$)\]]/.test(c) ? "a" : c;
      advance(i + 1);
    }
  }
  return comments;
}

/**
 * The problems of the JSDoc examples in one source file: each `console.assert`
 * inside a JSDoc comment, and each `@example` tag with no title after it.
 * `path` only labels the problems.
 *
 * @example Flag an example with no title
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { findDocExampleProblems } from "./check_doc_examples.ts";
 * const source = "/**\n * @example\n * add(1, 2);\n *\/\nexport const add = (a: number, b: number) => a + b;\n";
 * deepEqual(findDocExampleProblems(source, "add.ts"), [{ path: "add.ts", line: 2, message: "@example has no title" }]);
 * deepEqual(findDocExampleProblems(source.replace("@example", "@example Add two numbers"), "add.ts"), []);
 * ```
 */
export function findDocExampleProblems(source: string, path: string): DocExampleProblem[] {
  const problems: DocExampleProblem[] = [];
  for (const comment of docComments(source)) {
    const lines = comment.text.split("\n");
    for (let k = 0; k < lines.length; k++) {
      const line = comment.line + k;
      const text = lines[k];
      const tag = /^\s*(?:\/\*\*|\*)?\s*@example\b(.*)$/.exec(text);
      if (tag) {
        const title = tag[1].replace(/\*\/\s*$/, "").trim();
        if (title === "") problems.push({ path, line, message: "@example has no title" });
      }
      for (let at = text.indexOf("console.assert"); at >= 0; at = text.indexOf("console.assert", at + 1)) {
        problems.push({ path, line, message: "console.assert in JSDoc (it only prints; use node:assert/strict)" });
      }
    }
  }
  return problems;
}

/**
 * The files checked: the entry points at the root (mod.ts, cli.ts, formats.ts, ...: every
 * non-test `.ts` there) and every non-test `.ts` under src/, relative to `root`, sorted.
 */
export async function docExampleFiles(root: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) files.push(entry.name);
  }
  const walk = async (folder: string): Promise<void> => {
    for await (const entry of Deno.readDir(join(root, folder))) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) files.push(path);
    }
  };
  await walk("src");
  // examples/ too: its modules are read as how-tos, and `deno test --doc` runs their examples.
  try {
    await walk("examples");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files.sort();
}

if (import.meta.main) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const problems: DocExampleProblem[] = [];
  for (const path of await docExampleFiles(root)) {
    problems.push(...findDocExampleProblems(await Deno.readTextFile(join(root, path)), path));
  }
  for (const p of problems) console.error(`${p.path}:${p.line}: ${p.message}`);
  if (problems.length > 0) {
    console.error(`${problems.length} doc example problem(s) in ${relative(Deno.cwd(), root) || "."}`);
    Deno.exit(1);
  }
}
