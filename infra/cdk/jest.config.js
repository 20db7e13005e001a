/** Jest configuration: ts-jest in isolatedModules mode (type checking runs once, via `tsc`, in test.sh). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', {}],
  },
  testTimeout: 120000,
};
