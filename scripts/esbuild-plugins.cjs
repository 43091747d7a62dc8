// esbuild plugins for the cloud function bundles: the Lambda bundles (serverless.yml:
// custom.esbuild.plugins) and the Azure and Google Cloud ones (scripts/build-functions.mjs).
//
// zod's `z` namespace (`import { z } from 'zod'`) is an object esbuild cannot tree-shake, so
// every bundle would carry all of zod's ~50 translated error-message locales (~260 KB minified)
// behind `z.locales`, which Portcullis never calls. English stays: zod imports it on its own.
const path = require('node:path');

const EMPTY = 'portcullis-empty-module';

/** Resolves zod's locale index to an empty module; `z.locales` becomes an empty namespace. */
const dropZodLocales = {
  name: 'portcullis-drop-zod-locales',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      const fromZod = args.importer.split(path.sep).join('/').includes('/node_modules/zod/');
      return fromZod ? { path: args.importer, namespace: EMPTY } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: EMPTY }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

module.exports = [dropZodLocales];
