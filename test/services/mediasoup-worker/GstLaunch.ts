import { ToolProcess } from './ToolProcess';

/** One gst-launch-1.0 pipeline, given as its argument list. */
export class GstLaunch extends ToolProcess {
  /** `verbose` prints property changes (e.g. fpsdisplaysink's counts) instead of staying quiet. */
  constructor(label: string, pipeline: string[], options: { verbose?: boolean } = {}) {
    super(`gst-launch (${label})`, 'gst-launch-1.0', [options.verbose ? '-v' : '-q', ...pipeline], {
      GST_DEBUG: process.env.GST_DEBUG ?? '1',
    });
  }
}
