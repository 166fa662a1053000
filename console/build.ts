// The console's bundle, made by esbuild in memory at each start (a few hundred ms):
// app-<hash>.js and app-<hash>.css, and the page that names them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface ConsoleBundle {
  /** The page, with %CONFIG% still to fill in. */
  page: string;
  /** /assets/<name> -> its bytes and type. */
  assets: Map<string, { body: Uint8Array; type: string }>;
}

const dir = import.meta.dirname;

export async function buildConsole(): Promise<ConsoleBundle> {
  const result = await build({
    entryPoints: { app: join(dir, 'src', 'main.tsx') },
    bundle: true,
    write: false,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    outdir: '/assets',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const assets = new Map<string, { body: Uint8Array; type: string }>();
  let js = '';
  let css = '';
  for (const f of result.outputFiles) {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assets.set(name, { body: f.contents, type });
    if (name.endsWith('.js')) js = `/assets/${name}`;
    if (name.endsWith('.css')) css = `/assets/${name}`;
  }
  const template = await readFile(join(dir, 'index.html'), 'utf8');
  return { page: template.replace('%JS%', js).replace('%CSS%', css), assets };
}
