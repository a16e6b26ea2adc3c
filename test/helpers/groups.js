// In-process groups for tests: n members of a fresh group, all in one view,
// left at the end however the body ends.
import { Group } from '../../dist/index.js'
import { until, uniqueGroup } from './wait.js'

export async function withGroup(tag, n, body, options = {}) {
  const name = uniqueGroup(tag)
  const groups = []
  try {
    for (let i = 0; i < n; i++) groups.push(await Group.join(name, { name: `m${i}`, ...options }))
    await until(() => groups.every((g) => g.view.members.length === n), { timeout: 10000, what: `a view of ${n}` })
    await body(groups)
  } finally {
    await Promise.all(groups.map((g) => g.leave().catch(() => {})))
  }
}
