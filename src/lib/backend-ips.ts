// Which backend IPs a peer admits in another host's live record (admission reason
// `backend-ip`, docs/security-gossip.md): one of the addresses that host reported for itself
// (the address it advertises, and the one its connection uses), or one inside
// [sidecar] backend_cidrs that is not loopback, link-local or unspecified. The gossip gate
// applies it to remote records; discovery applies it to this host's own records, to warn of
// one every peer would refuse.
import { BlockList, isIP } from 'node:net'

const LOCAL_ONLY = new BlockList()
LOCAL_ONLY.addSubnet('127.0.0.0', 8, 'ipv4')
LOCAL_ONLY.addSubnet('0.0.0.0', 8, 'ipv4')
LOCAL_ONLY.addSubnet('169.254.0.0', 16, 'ipv4')
LOCAL_ONLY.addAddress('::1', 'ipv6')
LOCAL_ONLY.addAddress('::', 'ipv6')
LOCAL_ONLY.addSubnet('fe80::', 10, 'ipv6')

/** True for loopback, unspecified and link-local addresses: they mean "this machine" to whoever dials them. */
export function isLocalOnly (ip: string): boolean {
  const family = isIP(ip)
  if (family === 0) return false
  return LOCAL_ONLY.check(ip, family === 4 ? 'ipv4' : 'ipv6')
}

/** A BlockList of "a.b.c.d/n" CIDRs; throws TypeError naming a malformed one. */
export function cidrList (cidrs: readonly string[]): BlockList {
  const list = new BlockList()
  for (const c of cidrs) {
    const [ip, bits, extra] = c.split('/')
    const family = isIP(ip)
    const n = Number(bits)
    if (family === 0 || extra !== undefined || bits === undefined || !/^\d{1,3}$/.test(bits) || n > (family === 4 ? 32 : 128)) throw new TypeError(`${JSON.stringify(c)} is not a CIDR such as 10.1.0.0/16 or fd00::/8`)
    list.addSubnet(ip, n, family === 4 ? 'ipv4' : 'ipv6')
  }
  return list
}

/**
 * Why a peer refuses backend IP `ip` of a host whose own addresses are `own`, or undefined
 * when it admits it: 'local-only' (loopback, link-local or unspecified, which `allowed` never
 * admits), 'outside' (not in `allowed`), 'invalid' (not an IP address).
 */
export function backendIpRefusal (ip: string, own: ReadonlySet<string>, allowed: BlockList): 'local-only' | 'outside' | 'invalid' | undefined {
  if (own.has(ip)) return undefined
  const family = isIP(ip)
  if (family === 0) return 'invalid'
  if (isLocalOnly(ip)) return 'local-only'
  return allowed.check(ip, family === 4 ? 'ipv4' : 'ipv6') ? undefined : 'outside'
}
