/**
 * Sending one DNS message to one server and getting its answer: UDP first,
 * TCP when the answer comes back truncated (TC bit) or when asked, as RFC
 * 1035 §4.2 and RFC 7766 describe.
 *
 * Why not node:dns: it cannot send UPDATE or TSIG, hides the authority
 * section (where the zone's SOA is), and gives no way to ask one particular
 * authoritative server for a non-recursive answer.
 *
 * The UDP socket is connected, so an ICMP "port unreachable" surfaces as
 * ECONNREFUSED ("nothing listens there") instead of a silent time-out, and
 * packets from any other address are dropped by the kernel. An answer whose
 * ID or question does not match is ignored (a stray or spoofed packet), not
 * taken. Every wait has a deadline; nothing retries forever.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { DnsError } from './errors.js';
import { DnsWireError, decodeMessage, normalizeName } from './wire.js';

export interface DnsServer {
  host: string;
  port: number;
}

export function formatServer(s: DnsServer): string {
  return net.isIPv6(s.host) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** "1.2.3.4", "1.2.3.4:5353", "[::1]:53", "::1". Only IP addresses: a host name would need DNS to find DNS. */
export function parseServer(spec: string, defaultPort = 53): DnsServer | undefined {
  const s = spec.trim();
  let host: string;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else if (net.isIPv6(s)) {
    host = s;
  } else {
    const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(s);
    if (!m) return undefined;
    host = m[1]!;
    if (m[2]) port = Number(m[2]);
  }
  if (!net.isIP(host) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export interface ExchangeOptions {
  /** Per try. Default 2000 ms. */
  timeoutMs?: number;
  /** UDP tries before giving up (a lost datagram is retried). Default 2. */
  tries?: number;
  /** Skip UDP (used after a truncated answer, or for large messages). */
  tcp?: boolean;
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_TRIES = 2;
/** Without EDNS a UDP DNS message is at most 512 bytes (RFC 1035 §4.2.1); larger requests go over TCP. */
const UDP_MAX = 512;

/** Does `answer` belong to `request` (same ID, same question)? */
function matches(request: Buffer, answer: Buffer): boolean {
  if (answer.length < 12 || answer.readUInt16BE(0) !== request.readUInt16BE(0)) return false;
  if ((answer[2]! & 0x80) === 0) return false; // not an answer
  try {
    const q = decodeMessage(request).questions[0];
    const a = decodeMessage(answer).questions[0];
    // Some servers send no question back in error answers (FORMERR, NOTIMP): accept those by ID alone.
    if (!a || !q) return true;
    return normalizeName(a.name) === normalizeName(q.name) && a.type === q.type && a.class === q.class;
  } catch {
    // A garbled answer with our ID: let the caller's decoder report it as garbled.
    return true;
  }
}

function udpOnce(server: DnsServer, wire: Buffer, timeoutMs: number): Promise<Buffer | 'timeout'> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      fn();
    };
    const timer = setTimeout(() => finish(() => resolve('timeout')), timeoutMs);
    sock.on('error', (err) => finish(() => reject(err)));
    sock.on('message', (msg) => {
      if (matches(wire, msg)) finish(() => resolve(msg));
    });
    sock.connect(server.port, server.host, () => {
      sock.send(wire, (err) => {
        if (err) finish(() => reject(err));
      });
    });
  });
}

function tcpOnce(server: DnsServer, wire: Buffer, timeoutMs: number): Promise<Buffer | 'timeout'> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(() => finish(() => resolve('timeout')), timeoutMs);
    sock.on('error', (err) => finish(() => reject(err)));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(wire.length);
      sock.write(Buffer.concat([len, wire]));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        if (matches(wire, msg)) return finish(() => resolve(Buffer.from(msg)));
      }
    });
    sock.on('end', () => finish(() => reject(Object.assign(new Error('the server closed the TCP connection without answering'), { code: 'ECONNRESET' }))));
  });
}

function networkError(server: DnsServer, err: unknown, proto: string): DnsError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const where = formatServer(server);
  if (code === 'ECONNREFUSED') {
    return new DnsError('connection-refused', `The DNS server ${where} refused the connection (${proto}): nothing answers DNS there.`, {
      server: where,
      hint: 'Check the server address and port, and that the nameserver is running and listening on that address.',
    });
  }
  return new DnsError('network', `Could not reach the DNS server ${where} over ${proto}: ${code || (err as Error).message}.`, {
    server: where,
    hint: 'Check the address, the route and any firewall between this host and the nameserver.',
  });
}

/**
 * Send `wire` to `server` and return the raw answer (raw, because TSIG
 * verification needs the exact bytes). Throws DnsError for a time-out,
 * a refused connection or another network failure.
 */
export async function exchange(server: DnsServer, wire: Buffer, opts: ExchangeOptions = {}): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const tries = Math.max(1, opts.tries ?? DEFAULT_TRIES);
  const where = formatServer(server);
  if (!opts.tcp && wire.length <= UDP_MAX) {
    let truncated = false;
    for (let i = 0; i < tries && !truncated; i++) {
      let answer: Buffer | 'timeout';
      try {
        answer = await udpOnce(server, wire, timeoutMs);
      } catch (err) {
        throw networkError(server, err, 'UDP');
      }
      if (answer === 'timeout') continue;
      if ((answer[2]! & 0x02) === 0) return answer; // TC bit clear: the answer is complete
      truncated = true; // ask again over TCP
    }
    if (!truncated) {
      throw new DnsError('timeout', `The DNS server ${where} did not answer within ${timeoutMs} ms (${tries} ${tries === 1 ? 'try' : 'tries'} over UDP).`, {
        server: where,
        hint: `Check that the nameserver is running and that UDP port ${server.port} is not filtered on the way.`,
      });
    }
  }
  let answer: Buffer | 'timeout';
  try {
    answer = await tcpOnce(server, wire, timeoutMs);
  } catch (err) {
    throw networkError(server, err, 'TCP');
  }
  if (answer === 'timeout') {
    throw new DnsError('timeout', `The DNS server ${where} did not answer within ${timeoutMs} ms over TCP.`, { server: where, hint: `Check that TCP port ${server.port} of the nameserver is open.` });
  }
  return answer;
}

/** Decode an answer, turning a garbled one into a DnsError that names the server. */
export function decodeAnswer(server: DnsServer, wire: Buffer) {
  try {
    return decodeMessage(wire);
  } catch (err) {
    if (err instanceof DnsWireError) throw new DnsError('malformed', `The DNS server ${formatServer(server)} sent an answer certctl cannot read: ${err.message}`, { server: formatServer(server) });
    throw err;
  }
}
