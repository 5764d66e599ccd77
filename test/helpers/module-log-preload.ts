// Loaded into a daemon with node --import: appends the URL of every module the process loads
// (ESM and CommonJS, through module.registerHooks) to the file named by SIDECAR_MODULE_LOG, one
// per line, and when the process exits, Node's own modules it loaded ("node:internal/...",
// from process.moduleLoadList: those load without passing the hooks). Lets a test see which
// dependencies a configuration pulls into memory.
import { appendFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const file = process.env.SIDECAR_MODULE_LOG
if (file !== undefined && file !== '') {
  registerHooks({
    load (url, context, next) {
      appendFileSync(file, `${url}\n`)
      return next(url, context)
    },
  })
  process.on('exit', () => {
    const loadList = (process as unknown as { moduleLoadList: string[] }).moduleLoadList // in Node since 0.x, not in @types/node
    const builtins = loadList.filter(m => m.startsWith('NativeModule ')).map(m => `node:${m.slice('NativeModule '.length)}\n`)
    appendFileSync(file, builtins.join(''))
  })
}
