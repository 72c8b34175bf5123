import net from 'node:net';
import dgram from 'node:dgram';

/**
 * A TCP port that was free a moment ago (and the same UDP port, for DNS).
 * Drawn at random from 10000-32767 rather than asked of the kernel: the
 * kernel hands out ephemeral ports (32768 and up) in sequence, so test files
 * running in parallel would often be given the same "free" port before either
 * binds it, and outgoing connections take ports from that range too.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const candidate = 10000 + Math.floor(Math.random() * 22768);
    const port = await new Promise<number | null>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(null));
      srv.listen(candidate, '127.0.0.1', () => srv.close(() => resolve(candidate)));
    });
    if (port === null) continue;
    const udpFree = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found');
}

/** Wait until something accepts TCP connections on host:port. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}
