// A temporary shared directory with a server and a client attached to it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { P9Server, type P9ServerOptions } from '../../src/p9/p9-server.js';
import { P9TestClient } from './p9-test-client.js';

export interface Share {
  /** The directory outside the share that holds it (escape targets live here). */
  outside: string;
  /** The shared directory. */
  root: string;
  server: P9Server;
  client: P9TestClient;
  cleanup(): void;
}

/** `files` maps relative paths to contents; a path ending in '/' is a directory. */
export function makeShare(files: Record<string, string> = {}, options: Partial<P9ServerOptions> = {}): Share {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-p9-'));
  const root = path.join(outside, 'share');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(outside, 'secret'), 'host secret');
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(root, name);
    if (name.endsWith('/')) fs.mkdirSync(full, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, content);
    }
  }
  const server = new P9Server({ root, ...options });
  const client = new P9TestClient(server).start();
  return {
    outside,
    root,
    server,
    client,
    cleanup() {
      server.close();
      fs.rmSync(outside, { recursive: true, force: true });
    },
  };
}
