// Reading C sources as text: what discovery and the VFIO modes share.

/** The source without its comments, so that a commented-out call or an example in a comment never counts. */
export const stripComments = (c: string) => c.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '');
