// Types of protocol-codegen.mjs for the unit tests.
export interface NamedMethod {
  method: string;
  params: string | undefined;
  result?: string | undefined;
}
export function collectDefinitions(protocol: unknown): {
  defs: Record<string, unknown>;
  requests: NamedMethod[];
  notifications: NamedMethod[];
};
export function generateProtocolTs(protocol: unknown, source: string): Promise<string>;
