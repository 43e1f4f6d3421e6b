/** Where the built artifacts live, relative to the package root. */
import * as fs from 'node:fs';
import * as path from 'node:path';

let root: string | undefined;

/** The directory holding Kindling's package.json (works from src/ via ts and from dist/). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kindling') {
      root = dir;
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the kindling package root');
    dir = up;
  }
}

export const artifacts = {
  bpfObject: (): string => path.join(packageRoot(), 'build', 'bpf', 'kindling.bpf.o'),
  bpfCompatObject: (): string => path.join(packageRoot(), 'build', 'bpf', 'kindling-compat.bpf.o'),
  emptyBpfObject: (): string => path.join(packageRoot(), 'build', 'bpf', 'empty.bpf.o'),
  abiTable: (): string => path.join(packageRoot(), 'build', 'bpf', 'abi-offsets.json'),
  addon: (): string => path.join(packageRoot(), 'native', 'build', 'Release', 'kindling_native.node'),
  program: (name: string): string => path.join(packageRoot(), 'build', 'programs', name),
};
