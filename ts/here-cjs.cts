// here.ts for the CommonJS build (dist/cjs/ is two levels down).
import path = require('node:path')

export const packageRoot = path.resolve(__dirname, '..', '..')
export const requireHere: NodeJS.Require = require
