/** Builds the Azure (`azure`) or Google Cloud (`gcp`) deployable bundle into `outdir`; see build-functions.mjs. */
export function buildFunctions(
  target: 'azure' | 'gcp',
  outdir?: string,
  options?: { metafile?: string },
): Promise<void>;
