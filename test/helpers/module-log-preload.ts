// Loaded into a daemon with node --import: appends the URL of every module the process loads
// (ESM and CommonJS, through module.registerHooks) to the file named by SIDECAR_MODULE_LOG, one
// per line. Lets a test see which dependencies a configuration pulls into memory.
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
}
