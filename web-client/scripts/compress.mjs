// After `vite build`: a brotli and a gzip copy of index.html, console.html, board.html and each built asset,
// which the server sends to browsers that accept them (server/src/http/web.rs).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const dist = new URL("../dist/", import.meta.url).pathname;
const files = ["index.html", "console.html", "board.html", ...readdirSync(join(dist, "assets")).filter((n) => /\.(js|css)$/.test(n)).map((n) => `assets/${n}`)];
for (const name of files) {
  const data = readFileSync(join(dist, name));
  writeFileSync(join(dist, `${name}.br`), brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  writeFileSync(join(dist, `${name}.gz`), gzipSync(data, { level: 9 }));
}
