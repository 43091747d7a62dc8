/**
 * Where an Amazon ECR image lives. ECR and Inspector name the account (`registryId`,
 * `registry`) and sometimes the region (a resource's `region`, or inside an ARN); the pull
 * host a pod names is built from both.
 */
import { ValidationError } from '../../core/errors.js';

const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
const ACCOUNT = /^\d{12}$/;

/** True for an AWS region name such as `us-east-1` or `cn-north-1`. */
export function isAwsRegion(region: string | undefined | null): boolean {
  return typeof region === 'string' && REGION.test(region);
}

/**
 * The registry host of an account's ECR registry in a region, the one image references name.
 * China regions live under `amazonaws.com.cn`.
 *
 * @example ecrRegistryHost('123456789012', 'eu-west-1') // '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
 */
export function ecrRegistryHost(account: string, region: string): string {
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `${account}.dkr.ecr.${region}.${suffix}`;
}

/** The region inside an ARN (`arn:aws:ecr:eu-west-1:123456789012:repository/...`), if any. */
export function regionFromArn(arn: string | undefined | null): string | undefined {
  const region = arn?.split(':')[3];
  return region !== undefined && isAwsRegion(region) ? region : undefined;
}

/**
 * Picks the region for an ECR payload: the first one the payload itself names, else the
 * caller's `region` option. Throws ValidationError asking for `region` when there is none.
 */
export function resolveEcrRegion(found: readonly (string | undefined)[], option: string | undefined): string {
  const region = found.find((r) => isAwsRegion(r)) ?? option?.trim();
  if (region === undefined || region === '') {
    throw new ValidationError(
      'the ECR payload names the account (registryId) but not the region; pass region=<aws region>, e.g. region=us-east-1',
      { details: [{ path: 'region', message: 'required for this payload' }] },
    );
  }
  if (!isAwsRegion(region)) {
    throw new ValidationError(`region "${region.slice(0, 64)}" is not an AWS region such as us-east-1`, {
      details: [{ path: 'region', message: 'expected an AWS region such as us-east-1' }],
    });
  }
  return region;
}

/** Checks an account id from a payload; ECR's registry id is always 12 digits. */
export function checkAccount(account: string, path: string): string {
  const id = account.trim();
  if (!ACCOUNT.test(id)) {
    throw new ValidationError(`${path}: "${id.slice(0, 64)}" is not a 12-digit AWS account id`, {
      details: [{ path, message: 'expected a 12-digit AWS account id' }],
    });
  }
  return id;
}
