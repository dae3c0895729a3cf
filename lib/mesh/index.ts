export * from './info';
export {
  DEFAULT_MESH_NAME,
  meshDir,
  meshFile,
  meshRegion,
  meshRoot,
  parseMeshInfo,
  readMeshInfo,
} from './reader';
