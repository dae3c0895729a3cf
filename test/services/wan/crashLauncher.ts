// A launcher that starts a WAN-only mesh and then waits: the crash test SIGKILLs it, as a crash
// would, so nothing of its own cleanup runs.
import { Mesh } from '../../../regions/launcher';

const [name, portBase] = process.argv.slice(2);
Mesh.start({ name, portBase: Number(portBase), redis: false, kafka: false, wan: true }).then(
  (mesh) => {
    console.log(`READY ${mesh.wan!.emulator!.process.pid}`);
    setInterval(() => {}, 1 << 30);
  },
  (error: Error) => {
    console.error(error.message);
    process.exit(1);
  },
);
