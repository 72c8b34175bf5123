/**
 * The agents that carry certctl's requests through an HTTP(S) proxy (see
 * proxy.ts for which proxy, if any): CONNECT tunnels for https:// targets
 * (TLS end to end with the CA, with certctl's CA bundle), forwarding for
 * http:// ones. A request that fails at the proxy (no connection to it, or an
 * error status to CONNECT) fails with a ProxyFailure attached, so it is told
 * apart from a CA that cannot be reached.
 */
import type net from 'node:net';
import type http from 'node:http';
import type { HttpsProxyAgent } from 'https-proxy-agent';
import type { HttpProxyAgent } from 'http-proxy-agent';
import { markProxyFailure as mark, type ProxyChoice } from './proxy.js';

export interface TlsOptions {
  ca?: string[];
}

/**
 * The agent classes, made once on first use: the agent packages are ES modules only, which a
 * bundle cannot load lazily with require (scripts/bundle.mjs), and most runs use no proxy.
 */
async function agentClasses() {
  const [{ HttpsProxyAgent }, { HttpProxyAgent }] = await Promise.all([import('https-proxy-agent'), import('http-proxy-agent')]);
  type ConnectOpts = Parameters<HttpsProxyAgent<string>['connect']>[1];

  /** CONNECT tunnels for https:// targets; errors carry a ProxyFailure. */
  class TunnelAgent extends HttpsProxyAgent<string> {
    constructor(
      private readonly choice: ProxyChoice,
      private readonly tlsOpts: TlsOptions,
    ) {
      super(choice.url.href, { keepAlive: true });
    }

    override async connect(req: http.ClientRequest, opts: ConnectOpts): Promise<net.Socket> {
      let answer: { statusCode: number; statusText?: string } | undefined;
      req.once('proxyConnect', (c: { statusCode: number; statusText?: string }) => (answer = c));
      const target = `${opts.host}:${opts.port}`;
      let socket: net.Socket;
      try {
        socket = await super.connect(req, { ...opts, ...this.tlsOpts });
      } catch (err) {
        throw mark(err, { proxy: this.choice, phase: answer ? 'refused' : 'reach', target, code: (err as { code?: string }).code, status: answer?.statusCode });
      }
      if (answer && answer.statusCode !== 200) {
        socket.destroy();
        throw mark(Object.assign(new Error(`the proxy answered CONNECT with HTTP ${answer.statusCode}`), { code: 'ECERTCTL_PROXY' }), {
          proxy: this.choice,
          phase: 'refused',
          target,
          status: answer.statusCode,
          statusText: answer.statusText,
        });
      }
      return socket;
    }
  }

  /** Forwarding for http:// targets. */
  class ForwardAgent extends HttpProxyAgent<string> {
    constructor(private readonly choice: ProxyChoice) {
      super(choice.url.href, { keepAlive: true });
    }

    override async connect(req: Parameters<HttpProxyAgent<string>['connect']>[0], opts: ConnectOpts): Promise<net.Socket> {
      try {
        return await super.connect(req, opts);
      } catch (err) {
        throw mark(err, { proxy: this.choice, phase: 'reach', target: `${opts.host}:${opts.port}`, code: (err as { code?: string }).code });
      }
    }
  }

  return { TunnelAgent, ForwardAgent };
}
let classes: ReturnType<typeof agentClasses> | undefined;

const agents = new Map<string, http.Agent>();

/** The agent that carries requests to `target` through `choice` (cached per proxy, scheme and CA bundle). */
export async function proxyAgent(choice: ProxyChoice, target: URL, tlsOpts: TlsOptions = {}): Promise<http.Agent> {
  const key = `${target.protocol}|${choice.url.href}|${tlsOpts.ca ? tlsOpts.ca.length + (tlsOpts.ca[tlsOpts.ca.length - 1] ?? '') : ''}`;
  let a = agents.get(key);
  if (!a) {
    const { TunnelAgent, ForwardAgent } = await (classes ??= agentClasses());
    a = target.protocol === 'https:' ? new TunnelAgent(choice, tlsOpts) : new ForwardAgent(choice);
    agents.set(key, a);
  }
  return a;
}

/**
 * `fetch(url)` for a request that goes through `choice` (Node's fetch has no proxy support):
 * node:http(s) with the proxy's agent, answered as a fetch Response. Failures at the proxy carry
 * a ProxyFailure (proxyFailureOf).
 */
export async function fetchViaProxy(url: string, choice: ProxyChoice, init: { signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
  const target = new URL(url);
  const [{ default: httpMod }, { default: httpsMod }, { Readable }] = await Promise.all([import('node:http'), import('node:https'), import('node:stream')]);
  const mod = target.protocol === 'https:' ? httpsMod : httpMod;
  const agent = await proxyAgent(choice, target);
  return new Promise<Response>((resolve, reject) => {
    const req = mod.get(target, { agent, headers: init.headers, signal: init.signal }, (res) => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) for (const x of v) headers.append(k, x);
        else if (v !== undefined) headers.set(k, v);
      }
      const status = res.statusCode ?? 502;
      const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status: status < 200 || status > 599 ? 502 : status, statusText: res.statusMessage, headers }));
    });
    req.once('error', reject);
  });
}
