// The committee office's console (console.html, served at /console) is built on its own
// after the meeting client, into the same dist/, so the two share no chunk: the
// audience's page stays one script.
import { defineConfig } from "vite";
import { inlineCss } from "./vite.config";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  plugins: [inlineCss()],
  build: { outDir: "dist", emptyOutDir: false, sourcemap: false, rollupOptions: { input: "console.html" } },
});
