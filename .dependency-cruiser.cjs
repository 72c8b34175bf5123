/**
 * certctl's layering, checked by `npm test` (test/unit/architecture.test.ts)
 * and by `npx depcruise src`. docs/architecture.md explains the house.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import loops between files (type-only imports count too: a loop of types is still a knot).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-not-cli',
      severity: 'error',
      comment: 'The core is a library: nothing under src/core/ imports the command line.',
      from: { path: '^src/core/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-core-folder-cycles',
      severity: 'error',
      comment: 'Folders of src/core/ form no loop either (planner → ledger → planner through other files is still a loop).',
      scope: 'folder',
      from: { path: '^src/core' },
      to: { path: '^src/core', circular: true },
    },
    {
      name: 'src-not-test',
      severity: 'error',
      comment: 'Shipped code never imports test code.',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
