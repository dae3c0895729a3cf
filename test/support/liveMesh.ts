import {
  type EdgeProcess,
  Mesh,
  type MeshOptions,
  type StartEdgesOptions,
  startEdges,
} from '../../regions/launcher';

/** A mesh with its edges running as processes, as `npm start` runs them. */
export async function startMeshWithEdges(
  options: MeshOptions,
  edges: StartEdgesOptions = {},
): Promise<{ mesh: Mesh; edges: EdgeProcess[] }> {
  const mesh = await Mesh.start(options);
  try {
    return { mesh, edges: await startEdges(mesh, edges) };
  } catch (err) {
    await mesh.stop();
    throw err;
  }
}

/** Mints a token through an edge's dev endpoint. */
export async function devToken(
  edgeUrl: string,
  body: { room: string; identity: string; name: string; grants?: object; ttlSeconds?: number },
): Promise<{ token: string; url: string }> {
  const res = await fetch(`${edgeUrl}/api/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`dev token: ${res.status} ${await res.text()}`);
  return (await res.json()) as { token: string; url: string };
}
