/** The store of the Lambda functions: DynamoDB, from the environment serverless.yml sets. */
import { openDynamoDbStoreFromEnv } from '../../adapters/store/dynamodb/index.js';
import type { Store } from '../../core/ports.js';

/** Opens the DynamoDB store (`PORTCULLIS_DYNAMODB_TABLE_PREFIX`, …) keeping events `retentionDays`. */
export function openLambdaStore(retentionDays: number): Promise<Store> {
  return openDynamoDbStoreFromEnv(process.env, { retentionDays });
}
