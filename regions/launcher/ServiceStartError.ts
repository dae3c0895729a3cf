/** A service of the mesh that could not start: names the service, its ports and its last log lines. */
export class ServiceStartError extends Error {
  override name = 'ServiceStartError';

  constructor(
    readonly service: string,
    readonly ports: readonly number[],
    readonly reason: string,
    readonly logFile: string | null,
    readonly logTail: readonly string[],
  ) {
    const where = ports.length > 0 ? ` (127.0.0.1:${ports.join(', ')})` : '';
    const tail =
      logFile === null
        ? ''
        : logTail.length > 0
          ? `\n  last lines of ${logFile}:\n${logTail.map((l) => `    ${l}`).join('\n')}`
          : `\n  ${logFile} is empty`;
    super(`${service}${where} could not start: ${reason}${tail}`);
  }
}
