// A worker thread of HashWriters (HashWriters.ts), plain JavaScript so it runs without a TypeScript
// loader. It keeps open files: it hashes every batch it receives (SHA-256, in arrival order) and writes it
// at its position with one pwritev through libuv's pool, so the hashing of one batch overlaps the writing
// of the last. Hashing costs as much CPU as the whole network receive; here it stays off the event loop.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

const files = new Map();
const post = (m) => parentPort.postMessage(m);
function settle(id, f) {
  if (!f.closing || f.pending > 0) return;
  files.delete(id);
  fs.close(f.fd, (err) => {
    if (f.error || err) post({ id, type: 'failed', message: f.error || err.message });
    else if (f.closing === 'end') post({ id, type: 'ended', sha256: f.hash.digest('hex'), size: f.pos });
    else post({ id, type: 'aborted' });
  });
}
parentPort.on('message', (m) => {
  if (m.type === 'open') {
    fs.open(m.path, 'wx', (err, fd) => {
      if (err) return post({ id: m.id, type: 'failed', message: err.message });
      files.set(m.id, { fd, hash: createHash('sha256'), pos: 0, pending: 0, closing: null, error: null });
      post({ id: m.id, type: 'opened' });
    });
    return;
  }
  const f = files.get(m.id);
  if (!f) return;
  if (m.type === 'write') {
    if (f.error || f.closing) return post({ id: m.id, type: 'written', bytes: m.bytes });
    for (const c of m.chunks) f.hash.update(c);
    f.pending++;
    fs.writev(f.fd, m.chunks, f.pos, (err, written) => {
      f.pending--;
      if (!f.error && (err || written !== m.bytes))
        f.error = err ? err.message : `short write (${written} of ${m.bytes} bytes)`;
      // The buffers go back to be dropped on the event loop's side, whose frequent collections free
      // them soon; this thread allocates little, so here they would wait long for a collection.
      const back = m.chunks.map((c) => c.buffer);
      parentPort.postMessage({ id: m.id, type: 'written', bytes: m.bytes }, back);
      settle(m.id, f);
    });
    f.pos += m.bytes;
  } else if (m.type === 'end' || m.type === 'abort') {
    f.closing = m.type;
    settle(m.id, f);
  }
});
