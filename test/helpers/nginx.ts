/**
 * Debian's nginx for a test: its own prefix, config, pid and logs in a temp
 * directory, in the foreground (daemon off, not the system's service), TLS
 * on 127.0.0.1:<free port>, one server block per name reading the given
 * certificate and key paths. `nginx -t` is run on the config first.
 * `reloadCommand` is what a deploy hook runs (nginx -s reload with the same
 * prefix and config).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort } from '../../testkit/ports.js';
import { tempDir } from './cli.js';

export const NGINX = '/usr/sbin/nginx';

export interface Nginx {
  port: number;
  conf: string;
  prefix: string;
  /** argv of `nginx -s reload` for this instance. */
  reloadArgs: string[];
  /** The serial (OpenSSL's upper-case hex) nginx presents for `name` (openssl s_client with SNI). */
  servedSerial(name: string): string;
  stop(): Promise<void>;
}

export async function startNginx(sites: { name: string; cert: string; key: string }[]): Promise<Nginx> {
  if (!fs.existsSync(NGINX)) throw new Error('nginx is not installed: apt-get install -y nginx');
  const prefix = tempDir('certctl-nginx-');
  fs.mkdirSync(path.join(prefix, 'logs'));
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  const servers = sites
    .map((s) => `  server {\n    listen 127.0.0.1:${port} ssl;\n    server_name ${s.name};\n    ssl_certificate ${s.cert};\n    ssl_certificate_key ${s.key};\n    location / { return 200 "${s.name}\\n"; }\n  }`)
    .join('\n');
  fs.writeFileSync(
    conf,
    `worker_processes 1;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  client_body_temp_path ${prefix}/body;\n  proxy_temp_path ${prefix}/proxy;\n  fastcgi_temp_path ${prefix}/fastcgi;\n  uwsgi_temp_path ${prefix}/uwsgi;\n  scgi_temp_path ${prefix}/scgi;\n${servers}\n}\n`,
  );
  const base = ['-p', prefix, '-c', conf];
  execFileSync(NGINX, [...base, '-t'], { stdio: 'pipe' });
  const child: ChildProcess = spawn(NGINX, [...base, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  try {
    await waitForPort(port);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${stderr} ${(err as Error).message}`);
  }
  return {
    port,
    conf,
    prefix,
    reloadArgs: [NGINX, ...base, '-s', 'reload'],
    servedSerial(name: string): string {
      const pem = execFileSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name], { input: '', stdio: ['pipe', 'pipe', 'ignore'], timeout: 10_000 }).toString();
      const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
      if (!leaf) throw new Error(`nginx presented no certificate for ${name}`);
      return execFileSync('openssl', ['x509', '-noout', '-serial'], { input: leaf }).toString().trim().replace(/^serial=/, '');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGQUIT');
      await gone;
    },
  };
}
