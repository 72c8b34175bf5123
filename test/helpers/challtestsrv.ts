// Moved to src/testkit/ so the demo (npm run demo) can use it from dist/.
export * from '../../src/testkit/challtestsrv.js';
