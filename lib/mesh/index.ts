export * from './info';
export {
  DEFAULT_MESH_NAME,
  meshDir,
  meshFile,
  meshKafkaBrokers,
  meshRedisNodes,
  meshRegion,
  meshRoot,
  parseMeshInfo,
  readMeshInfo,
} from './reader';
