// Builds the WAN link emulator into the cache ahead of time (a no-op when present): for setup scripts.
//   npx tsx regions/launcher/wan/build-linkemu.ts
import { ensureLinkEmulator } from './linkEmulatorBin';

try {
  console.log(ensureLinkEmulator((line) => console.log(line)));
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
