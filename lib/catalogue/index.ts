export {
  buildCatalogue,
  type Catalogue,
  CatalogueError,
  defaultRegionsDir,
  loadCatalogue,
} from './catalogue';
export type { Flow, RegionSpec, Topology } from './schema';
export { RegionSpecSchema, TopologySchema } from './schema';
