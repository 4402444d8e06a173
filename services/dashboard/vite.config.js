import { fileURLToPath } from "node:url";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// The UI lives in ui/ and builds to dist-ui/, which the dashboard's HTTP server serves.
// Plain JS on purpose: the service's tsconfig compiles only src/, and a .ts config would sit in no
// TypeScript project, which the type-aware lint rejects. defineConfig still types it in editors.
export default defineConfig({
  root: fileURLToPath(new URL("./ui", import.meta.url)),
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: fileURLToPath(new URL("./dist-ui", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
  },
  server: {
    // `vite --config vite.config.ts` during UI work: API and live feed from a running dashboard.
    proxy: {
      "/api": "http://127.0.0.1:8081",
      "/ws": { target: "ws://127.0.0.1:8081", ws: true },
    },
  },
});
