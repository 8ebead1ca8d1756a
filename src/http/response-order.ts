// Keeps a raw refusal (400, 408, 431 after a parse error) behind the responses a connection is still owed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

interface ConnectionState {
  /** Responses started on this connection and not yet finished or aborted. */
  inFlight: number;
  /** The refusal waiting for them, written once `inFlight` reaches 0. */
  refusal: (() => void) | undefined;
  /** A refusal was queued or written: the connection gets no second one. */
  refused: boolean;
}

// Where a connection keeps its state, and a response its connection's: a property, where a WeakMap entry
// per connection cost about 1 % of a one-request connection.
const connectionState = Symbol('hoard.responseOrder');

type TrackedSocket = Duplex & { [connectionState]?: ConnectionState };
type TrackedResponse = ServerResponse & { [connectionState]?: ConnectionState | undefined };

/** One shared listener (no closure per response): the response carries its connection's state. */
function responseClosed(this: TrackedResponse): void {
  const connection = this[connectionState];
  if (connection === undefined) return;
  this[connectionState] = undefined;
  connection.inFlight -= 1;
  if (connection.inFlight === 0 && connection.refusal !== undefined) {
    const refuse = connection.refusal;
    connection.refusal = undefined;
    refuse();
  }
}

/**
 * RFC 9112 9.3.2: responses to pipelined requests go out in the order of the requests. When a request
 * that parses is followed by one that does not, node's parser reports the second at once (`clientError`)
 * while the first one's response is still being produced; writing the refusal then would put it on the
 * wire first and end the connection under the pending response. Counting responses per connection with
 * the documented 'request' event and the response's 'close' lets the refusal wait its turn.
 */
export class ResponseOrder {
  /** Counts `res` as owed on its connection until it has finished or its connection is gone. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const connection = this.#state(req.socket);
    connection.inFlight += 1;
    (res as TrackedResponse)[connectionState] = connection;
    res.on('close', responseClosed);
  }

  /**
   * Runs `refuse` (which writes and ends the connection) now, or after the last owed response. Only the
   * first refusal of a connection counts: the parser stays in error and may report the same fault again.
   * Returns false when a refusal was already queued or sent.
   */
  afterPending(socket: Duplex, refuse: () => void): boolean {
    const connection = this.#state(socket);
    if (connection.refused) return false;
    connection.refused = true;
    if (connection.inFlight === 0) {
      refuse();
      return true;
    }
    connection.refusal = () => {
      if (socket.writable) refuse();
      else socket.destroy();
    };
    return true;
  }

  #state(socket: Duplex): ConnectionState {
    const tracked = socket as TrackedSocket;
    let state = tracked[connectionState];
    if (state === undefined) {
      state = { inFlight: 0, refusal: undefined, refused: false };
      tracked[connectionState] = state;
    }
    return state;
  }
}
