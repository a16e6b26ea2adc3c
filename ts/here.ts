// Where this build of troupe lives on disk, for what must be found there (the
// native addon). The CommonJS build (scripts/build-ts.mjs) compiles
// here-cjs.cts in this file's place.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** The package's root directory (dist/ is one level down). */
export const packageRoot = fileURLToPath(new URL('..', import.meta.url))
/** require(), for the addon and the CommonJS packages that find it. */
export const requireHere = createRequire(import.meta.url)
