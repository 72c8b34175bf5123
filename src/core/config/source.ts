/**
 * A config file as text → a plain value plus a way to find the line of any
 * field in it, so validation errors can say `config.yaml:12: certificates[1].domains: …`.
 * YAML 1.2 is a superset of JSON, so one parser (the `yaml` package, with its
 * LineCounter) reads both.
 */
import { createRequire } from 'node:module';
import { InputError } from '../errors.js';

/** At most this much of a problem's text is echoed, control characters escaped: a damaged or binary file must not fill a terminal with garbage. */
export function echo(text: string, max = 160): string {
  const cut = text.length > max ? text.slice(0, max) + '…' : text;
  return cut.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufffd]/g, (c) => (c === '\ufffd' ? '?' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)).replace(/[\t\n]/g, ' ');
}

/** Most aliases one config file may use, and the most nodes their expansion may produce (a "billion laughs" file stops here). */
export const MAX_ALIASES = 100;

export type FieldPath = (string | number)[];

export interface ConfigSource {
  file: string;
  value: unknown;
  /** 1-based line of the field at `path` (its key's line; a list item's own line); the nearest known ancestor's when the path is not in the file. */
  lineOf(path: FieldPath): number;
}

interface YNode {
  range?: [number, number, number] | null;
  items?: unknown[];
}
interface YPair {
  key: (YNode & { value?: unknown }) | null;
  value: YNode | null;
}

/** `certificates[1].domains` */
export function formatPath(path: FieldPath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s || '(top level)';
}

type Yaml = typeof import('yaml');

/**
 * A JSON text is read with JSON.parse, and the `yaml` package (~60–100 ms of CPU to load on the loaded
 * 2-core machine, most of an `issue --config x.json`'s config reading) loads only if a line is asked
 * for — a validation error to report, or a declared certificate (each keeps its line) — which then
 * reads the same text as YAML as before. YAML 1.2
 * reads a JSON text as JSON.parse does, but refuses a repeated key, which JSON.parse keeps the last
 * of: a text with one goes the YAML way, to get the same error.
 */
export async function parseConfigText(text: string, file: string): Promise<ConfigSource> {
  const json = parseJsonUnique(text);
  if (json) {
    let full: ConfigSource | undefined;
    const requireYaml = createRequire(import.meta.url);
    return { file, value: json.value, lineOf: (path) => (full ??= yamlSource(requireYaml('yaml') as Yaml, text, file)).lineOf(path) };
  }
  return yamlSource(await import('yaml'), text, file);
}

/** JSON.parse's value of `text` when it is JSON without a key repeated in an object; else undefined. */
function parseJsonUnique(text: string): { value: unknown } | undefined {
  const start = text.trimStart()[0];
  if (start !== '{' && start !== '[') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Every key written in the text (a string followed by ':') against the keys JSON.parse kept.
  let written = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '"') continue;
    for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    let j = i + 1;
    while (j < text.length && ' \t\r\n'.includes(text[j]!)) j++;
    if (text[j] === ':') written++;
  }
  let kept = 0;
  const count = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(count);
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) (kept++, count((v as Record<string, unknown>)[k]));
  };
  count(value);
  return written === kept ? { value } : undefined;
}

function yamlSource(YAML: Yaml, text: string, file: string): ConfigSource {
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new InputError(`${file}:${line}: not valid YAML or JSON: ${echo(what)}`, 'Fix the syntax; nothing was sent.');
  }
  // Aliases (*name) are expanded by toJS; a file of nested aliases ("billion laughs") would expand
  // to gigabytes. Count them first and say where, instead of the parser's bare "Excessive alias count".
  let aliases = 0;
  let firstAlias: number | undefined;
  YAML.visit(doc, {
    Alias(_key, node) {
      aliases++;
      if (firstAlias === undefined && node.range) firstAlias = lineCounter.linePos(node.range[0]).line;
    },
  });
  let value: unknown;
  try {
    if (aliases > MAX_ALIASES) throw new Error('Excessive alias count');
    value = doc.toJS({ maxAliasCount: MAX_ALIASES }) as unknown;
  } catch (err) {
    const msg = (err as Error).message ?? '';
    if (/alias/i.test(msg)) {
      throw new InputError(
        `${file}:${firstAlias ?? 1}: YAML aliases (*name) expand to too much (${aliases} alias${aliases === 1 ? '' : 'es'}; a file of nested aliases can expand to gigabytes), so certctl refuses the file.`,
        'Write the values out instead of nesting aliases; nothing was sent.',
      );
    }
    throw new InputError(`${file}:${firstAlias ?? 1}: cannot read the config: ${echo(msg)}`, 'Fix the file; nothing was sent.');
  }
  const lineAt = (n: YNode | null | undefined): number | undefined => (n?.range ? lineCounter.linePos(n.range[0]).line : undefined);

  const lineOf = (path: FieldPath): number => {
    let node = doc.contents as YNode | null;
    let line = lineAt(node) ?? 1;
    for (const seg of path) {
      if (!node || !Array.isArray(node.items)) break;
      if (typeof seg === 'number') {
        const child = node.items[seg] as YNode | undefined;
        if (!child) break;
        node = child;
      } else {
        const pair = (node.items as YPair[]).find((p) => p && p.key && (p.key as { value?: unknown }).value === seg);
        if (!pair) break;
        // A field's line is its key's line (a block value starts on the next line).
        line = lineAt(pair.key) ?? line;
        node = pair.value;
        continue;
      }
      line = lineAt(node) ?? line;
    }
    return line;
  };
  return { file, value, lineOf };
}
