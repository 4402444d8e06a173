import type { ConnectionState } from "./dashboard-client.js";

/** The live feed's state, for the header's indicator. */
export class ConnectionStatus {
  state = $state<ConnectionState>("connecting");
}
