// Generator config for @hey-api/openapi-ts: `npx openapi-ts` reads the OpenAPI document
// that `check` writes (openapi.json, from `mercado openapi`) and writes src/client/.
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: process.env.MERCADO_OPENAPI ?? 'openapi.json',
  output: {
    path: 'src/client',
    // Not the project's formatter or linter: the generated files are never committed.
    postProcess: [],
  },
  plugins: [
    // fetch (Node 20+ and browsers); the base URL is given at run time.
    '@hey-api/client-fetch',
    // Types from the schemas; no runtime enum objects.
    { name: '@hey-api/typescript', enums: false },
    // One standalone function per operation, named by its operationId (placeOrder, …);
    // each returns { data, error, response } with `error` typed by the documented
    // error responses.
    { name: '@hey-api/sdk', operations: { strategy: 'flat', nesting: 'operationId' } },
  ],
});
