// Native test programs (native/test/*.cc), compiled on first use into
// build/tools/ with the machine's g++: they are not part of the addon, so
// neither the package nor its install builds them.
import { execFileSync } from 'node:child_process'
import { mkdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

function mtime(file) {
  try {
    return statSync(file).mtimeMs
  } catch {
    return -1
  }
}

/** The path of native/test/<name>.cc built as an executable, rebuilt when the source is newer. */
export function nativeTool(name) {
  const source = `${root}native/test/${name}.cc`
  const binary = `${root}build/tools/${name}`
  if (mtime(binary) < mtime(source)) {
    mkdirSync(`${root}build/tools`, { recursive: true })
    const cxx = process.env.CXX ?? 'g++'
    execFileSync(cxx, ['-std=c++17', '-O2', '-Wall', '-pthread', `-I${root}native`, source, '-o', binary], { stdio: 'inherit' })
  }
  return binary
}
