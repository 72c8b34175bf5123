/** DNS-01 building blocks (see docs/dns-01.md). */
export { DnsError, type DnsErrorKind } from './errors.js';
export { TsigKey, TSIG_ALGORITHMS, type TsigAlgorithm } from './tsig.js';
export { loadTsigKey, parseKeyFile } from './keyfile.js';
export { parseServer, formatServer, type DnsServer } from './transport.js';
export { sendUpdate, type TxtChange } from './update.js';
export { challengeName, discoverChallengeZone, findZone, findNameservers, followCnames, type ChallengeZone, type Nameserver, type DiscoveryOptions } from './zone.js';
export { waitForPropagation, DEFAULT_PROPAGATION_TIMEOUT_MS, type PropagationOptions, type PropagationProgress } from './propagation.js';
export type { DnsProvider, DnsRecord, PresentContext } from './providers/types.js';
export { Rfc2136Provider } from './providers/rfc2136.js';
export { HookProvider, splitCommand } from './providers/hook.js';
export { AcmeDnsProvider, loadAcmeDnsCredentials, parseAcmeDnsCredentials } from './providers/acmedns.js';
export { Dns01Solver, dns01Value, type Dns01Challenge } from './solver.js';
export { dns01Precheck } from './precheck.js';
