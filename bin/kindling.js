#!/usr/bin/env node
'use strict';
// The `kindling` command; the TypeScript is compiled to dist/ by `npm run build`.
const path = require('node:path');
const fs = require('node:fs');

const entry = path.join(__dirname, '..', 'dist', 'receiver', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('kindling: not built yet; run: npm run build (or npm start, which sets up and builds)\n');
  process.exit(2);
}
require(entry).run(process.argv.slice(2));
