import { deepEqual } from "node:assert/strict";
import { docExampleFiles, findDocExampleProblems } from "./check_doc_examples.ts";

const CONSOLE_ASSERT = ["console", "assert"].join(".");

Deno.test("findDocExampleProblems flags console.assert in JSDoc and an untitled @example", () => {
  const source = [
    "/**",
    " * Adds two numbers.",
    " *",
    " * @example",
    " * ```ts",
    ' * import { add } from "./add.ts";',
    ` * ${CONSOLE_ASSERT}(add(1, 2) === 3);`,
    " * ```",
    " */",
    "export function add(a: number, b: number): number {",
    "  return a + b;",
    "}",
  ].join("\n");
  deepEqual(findDocExampleProblems(source, "src/add.ts"), [
    { path: "src/add.ts", line: 4, message: "@example has no title" },
    { path: "src/add.ts", line: 7, message: "console.assert in JSDoc (it only prints; use node:assert/strict)" },
  ]);
});

Deno.test("findDocExampleProblems passes a titled example that asserts, and console.assert outside JSDoc", () => {
  const source = [
    '// A glob in a string is not a comment: "src/**/*.ts"',
    'const glob = "src/**/*.ts";',
    "const re = /\\/\\*\\*/;",
    "const t = `/** ${glob} */`;",
    "/**",
    " * Adds two numbers.",
    " *",
    " * @example Add one and two",
    " * ```ts",
    ' * import { equal } from "node:assert/strict";',
    ' * import { add } from "./add.ts";',
    " * equal(add(1, 2), 3);",
    " * ```",
    " */",
    "export function add(a: number, b: number): number {",
    `  ${CONSOLE_ASSERT}(re.test(t));`,
    "  return a + b;",
    "}",
    "/** @example Add nothing */",
    "export const zero = 0;",
  ].join("\n");
  deepEqual(findDocExampleProblems(source, "src/add.ts"), []);
});

Deno.test("findDocExampleProblems counts lines across strings, templates and comments", () => {
  const source = [
    'const a = "x";',
    "const b = `line",
    "${a} /** not a comment */",
    "`;",
    "/* a plain",
    "   comment */",
    "/**",
    " * @example",
    " */",
    "export const c = 1;",
  ].join("\n");
  deepEqual(findDocExampleProblems(source, "c.ts"), [{ path: "c.ts", line: 8, message: "@example has no title" }]);
});

Deno.test("docExampleFiles lists the root's entry points and the non-test sources of src/ and examples/", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/src/image`, { recursive: true });
    await Deno.mkdir(`${root}/examples`, { recursive: true });
    for (
      const path of [
        "mod.ts",
        "cli.ts",
        "cli_test.ts",
        "formats.ts",
        "deno.json",
        "src/a.ts",
        "src/a_test.ts",
        "src/image/b.ts",
        "src/notes.md",
        "examples/deploy.ts",
        "examples/deploy_test.ts",
      ]
    ) {
      await Deno.writeTextFile(`${root}/${path}`, "");
    }
    deepEqual(await docExampleFiles(root), [
      "cli.ts",
      "examples/deploy.ts",
      "formats.ts",
      "mod.ts",
      "src/a.ts",
      "src/image/b.ts",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
