// The native addon, built or found.
//
//   node scripts/addon.cjs install    npm's install hook: use the prebuilt addon
//                                     (prebuilds/<platform>-<arch>/) when one
//                                     loads here; otherwise build from source
//   node scripts/addon.cjs build      build from source (build/Release/)
//   node scripts/addon.cjs prebuild   build the prebuilt addon for the package
//                                     (prebuildify, N-API: one build serves
//                                     every Node >= 20 on this platform)
//
// Builds use the headers of the running Node when the machine has them
// (Debian's nodejs puts them in /usr/include/node), so nothing but npm
// packages is ever downloaded.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

function withHeaders(env) {
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (env.npm_config_nodedir || !fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return env
  return { ...env, npm_config_nodedir: prefix }
}

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: withHeaders(process.env) })
  if (r.error) throw r.error
  return r.status ?? 1
}

/** node-gyp: npm's own (npm hands it to install scripts), else this package's devDependency. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp
  try {
    return require.resolve('node-gyp/bin/node-gyp.js')
  } catch {
    return null
  }
}

function build() {
  const gyp = nodeGyp()
  if (gyp === null) {
    console.error('troupe: no prebuilt addon loads on this machine and node-gyp is not found to build one (install node-gyp, or use npm, which brings its own)')
    return 1
  }
  return run(process.execPath, [gyp, 'rebuild'])
}

/** The prebuilt addon, if one matches this platform and loads here (a glibc too old, say, does not). */
function prebuiltLoads() {
  try {
    process.env.PREBUILDS_ONLY = '1'
    const file = require('node-gyp-build').resolve(root)
    require(file)
    return file
  } catch {
    return null
  } finally {
    delete process.env.PREBUILDS_ONLY
  }
}

function main(mode) {
  switch (mode) {
    case 'install': {
      // A git checkout builds its own: a prebuild left there by `npm pack` may be older than the source.
      if (fs.existsSync(path.join(root, '.git'))) return build()
      const file = prebuiltLoads()
      if (file) {
        console.log(`troupe: using the prebuilt addon ${path.relative(root, file)}`)
        return 0
      }
      console.log('troupe: no prebuilt addon for this platform loads here: building from source')
      return build()
    }
    case 'build':
      return build()
    case 'prebuild':
      return run(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc'])
    default:
      console.error('usage: node scripts/addon.cjs install|build|prebuild')
      return 2
  }
}

process.exitCode = main(process.argv[2])
