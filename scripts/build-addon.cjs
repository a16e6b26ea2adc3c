// Builds the native addon with node-gyp. Uses the headers of the running Node
// when the machine has them (Debian's nodejs puts them in /usr/include/node),
// so nothing but npm packages is ever downloaded.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const args = [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild']
const prefix = path.resolve(path.dirname(process.execPath), '..')
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`)
}
const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(r.status ?? 1)
