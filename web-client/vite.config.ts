// Vite builds the client into dist/, which the `yishi` binary embeds and serves at `/`.
import { defineConfig, type Plugin } from "vite";

/**
 * The stylesheet goes into index.html: the page paints with the HTML alone instead of
 * waiting for a second request (a round trip of up to two seconds on a slow phone network).
 */
export function inlineCss(): Plugin {
  return {
    name: "yishi-inline-css",
    enforce: "post",
    transformIndexHtml: {
      order: "post",
      handler(html, ctx) {
        if (!ctx.bundle) return html;
        for (const [name, chunk] of Object.entries(ctx.bundle)) {
          if (!name.endsWith(".css") || chunk.type !== "asset") continue;
          const link = new RegExp(`<link[^>]*href="/${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"[^>]*>`);
          if (!link.test(html)) continue;
          html = html.replace(link, () => `<style>${String(chunk.source)}</style>`);
          delete ctx.bundle[name];
        }
        return html;
      },
    },
  };
}

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  plugins: [inlineCss()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  test: { include: ["src/**/*.test.ts"] },
});
