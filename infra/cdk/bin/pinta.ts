#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { addPintaStack, FEATURE_FLAGS, resolveAssetsDir } from '../lib/app';
import { loadConfig } from '../lib/config';

// `cdk synth -c env=prod` selects config/prod.json; dev is the default.
const app = new App({ context: FEATURE_FLAGS });
const envName: string = app.node.tryGetContext('env') ?? 'dev';
const config = loadConfig(envName);
const assetsDir = resolveAssetsDir(app.node.tryGetContext('assetsDir'), process.env.PINTA_LAMBDA_ASSETS_DIR, config.lambda.assetsDir);
addPintaStack(app, config, assetsDir);
app.synth();
