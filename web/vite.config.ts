import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The server serves the built client (web/dist); `vite` in development proxies the API and
// the sync socket to a server on 8080.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8080",
      "/sync": { target: "ws://127.0.0.1:8080", ws: true },
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
