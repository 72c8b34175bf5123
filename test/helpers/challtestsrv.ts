// The test servers live in the top-level testkit/ (not shipped; the demo and benches run its own build, dist-testkit/).
export * from '../../testkit/challtestsrv.js';
