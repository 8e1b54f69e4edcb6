/**
 * The transport contract suite for our own specs: the public one (`rxcoap/testing`, src/testing/transport-contract.ts)
 * with jest's globals passed in, so every transport spec registers it the same way users do.
 */
import { describeTransportContract as describeContract, type ContractSetup } from '../../src/testing/transport-contract';

export type { ContractSetup } from '../../src/testing/transport-contract';

/** Registers the contract cases for one transport. `setup` runs before each case, `teardown` after. */
export function describeTransportContract(name: string, setup: () => Promise<ContractSetup>, teardown: () => Promise<void> = async () => undefined): void {
  describeContract(name, setup, { describe, it, beforeEach, afterEach, expect }, teardown);
}
