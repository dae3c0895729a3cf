#!/usr/bin/env node
// The `meetview` command: runs the TypeScript CLI through tsx's loader (the repository has no build step).
import { register } from 'tsx/esm/api';

register();
await import('./meetview.ts');
