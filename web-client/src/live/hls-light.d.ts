// hls.js's light build (no subtitles, alternate audio or DRM: none of them in our
// stream) has the same API as the full one, whose types it ships without.
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
