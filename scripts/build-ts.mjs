// Compiles ts/ twice: as ES modules into dist/ (the package's `import` entry,
// the CLI, the tests) and as CommonJS into dist/cjs/ (its `require` entry:
// the library alone, from ts/index.ts). The CommonJS build takes
// here-cjs.cts in place of here.ts, the one file that differs (import.meta).
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const run = (project) => execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' })

rmSync(path.join(root, 'dist'), { recursive: true, force: true })
run('tsconfig.json')

const work = path.join(root, 'build', 'ts-cjs')
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
cpSync(path.join(root, 'ts'), path.join(work, 'ts'), { recursive: true })
renameSync(path.join(work, 'ts', 'here-cjs.cts'), path.join(work, 'ts', 'here.ts'))
writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify({
  extends: path.join(root, 'tsconfig.json'),
  compilerOptions: {
    module: 'CommonJS',
    moduleResolution: 'Node10',
    rootDir: 'ts',
    outDir: path.join(root, 'dist', 'cjs'),
    sourceMap: false,
  },
  files: ['ts/index.ts', 'ts/blocks/index.ts'],
  include: [],
}, null, 2))
run(work)
writeFileSync(path.join(root, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n')
rmSync(work, { recursive: true, force: true })
