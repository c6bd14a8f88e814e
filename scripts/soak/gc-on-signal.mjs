// Soak-only preload for gateway replicas (node --expose-gc --import this): SIGUSR2 runs a full
// garbage collection, so the soak reads memory without garbage that is merely uncollected.
// The gateway itself does not use SIGUSR2.
process.on('SIGUSR2', () => globalThis.gc?.());
