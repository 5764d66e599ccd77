// --check-config's checks beyond the configuration itself: what the daemon reads at start and
// refuses to start without, read and judged the same way (same parser, same messages).
import type { SidecarConfig } from '../config/types.ts'
import { checkStaticFile } from '../discovery/static/static-discoverer.ts'
import { systemClock } from '../service/clock.ts'

/**
 * With static discovery on, reads and parses its file; throws the daemon's own StaticFileError
 * (file and entry named) when it is missing or bad; warn gets what the daemon would warn about
 * (an entry for another host, a port IP peers refuse). Returns one line per file checked.
 */
export async function checkStartInputs (config: SidecarConfig, warn?: (message: string) => void): Promise<string[]> {
  const sc = config.sidecar
  if (!sc.discovery.includes('static')) return []
  const file = config.static_discovery.config_file
  const count = await checkStaticFile({ file, hostname: sc.hostname, advertiseIp: sc.advertise_ip, backendCidrs: sc.backend_cidrs }, systemClock, warn)
  return [`static discovery file ${file}: ${count} service${count === 1 ? '' : 's'}`]
}
