// The public topic board (码上议事, board.html, served at /board) is built on its own after
// the meeting client and the console, into the same dist/, so it shares no chunk with
// them: a resident's phone loads the board's script only.
import { defineConfig } from "vite";
import { inlineCss } from "./vite.config";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  plugins: [inlineCss()],
  build: { outDir: "dist", emptyOutDir: false, sourcemap: false, rollupOptions: { input: "board.html" } },
});
