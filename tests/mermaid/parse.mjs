// Parse each mermaid file named on the command line with mermaid's own parser;
// print one JSON line per file: {"file", "ok", "type" or "error"}. Exit 0 either way.
// mermaid expects a browser: jsdom gives it the window and document it reads at import.
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

for (const file of process.argv.slice(2)) {
  try {
    const parsed = await mermaid.parse(readFileSync(file, "utf8"));
    console.log(JSON.stringify({ file, ok: true, type: parsed.diagramType }));
  } catch (error) {
    console.log(JSON.stringify({ file, ok: false, error: String(error.message ?? error) }));
  }
}
