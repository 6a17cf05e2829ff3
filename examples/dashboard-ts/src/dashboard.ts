/**
 * A live incident dashboard for the terminal: the active incidents, then a line for every
 * change to any incident of the tenant as it happens.
 *
 * Queries go over HTTP with the token in `Authorization: Bearer`; the subscription goes over
 * one graphql-transport-ws WebSocket with the token in `connection_init`, as the README's
 * "Authentication" section asks. Apollo Client's split link sends each operation its way.
 *
 * The subscription starts before the list is read, and changes that arrive meanwhile are
 * held back until the list is printed, so nothing that happens between the two is missed.
 *
 *   INCIDENTGRAPH_URL    the server (default http://127.0.0.1:8000)
 *   INCIDENTGRAPH_TOKEN  an API token (a VIEWER token is enough)
 *   --exit-after N       stop after N live changes (default: run until interrupted)
 */
import { parseArgs } from "node:util";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { CombinedGraphQLErrors, ServerError } from "@apollo/client/errors";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { OperationTypeNode } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

import {
  ActiveIncidentsDocument,
  IncidentsChangedDocument,
  type ActiveIncidentsQuery,
  type DashboardIncidentFragment,
  type IncidentStatus,
} from "./generated/graphql.js";

const PAGE_SIZE = 100;
const ENDED: ReadonlySet<IncidentStatus> = new Set(["RESOLVED", "CLOSED", "CANCELLED"]);
// Close codes after which reconnecting with the same token cannot help.
const REFUSED = new Set([4401, 4403]);

class Refusal extends Error {}

interface Settings {
  httpUrl: string;
  wsUrl: string;
  token: string;
  exitAfter: number | null;
}

function settings(): Settings {
  const { values } = parseArgs({ options: { "exit-after": { type: "string" } } });
  const base = (process.env.INCIDENTGRAPH_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
  const token = process.env.INCIDENTGRAPH_TOKEN;
  if (!token) {
    throw new Refusal("set INCIDENTGRAPH_TOKEN to an API token (a VIEWER token is enough)");
  }
  if (!/^https?:\/\//.test(base)) {
    throw new Refusal(`INCIDENTGRAPH_URL must start with http:// or https://, not ${base}`);
  }
  let exitAfter: number | null = null;
  if (values["exit-after"] !== undefined) {
    exitAfter = Number(values["exit-after"]);
    if (!Number.isInteger(exitAfter) || exitAfter < 1) {
      throw new Refusal(`--exit-after takes a whole number above 0, not ${values["exit-after"]}`);
    }
  }
  return {
    httpUrl: `${base}/graphql`,
    wsUrl: `${base.replace(/^http/, "ws")}/graphql`,
    token,
    exitAfter,
  };
}

function row(incident: DashboardIncidentFragment): string {
  const major = incident.isMajor ? "  [major]" : "";
  const commander = incident.commander ? `  (${incident.commander})` : "";
  return `${incident.reference}  ${incident.priority}  ${incident.status}  ${incident.title}${major}${commander}`;
}

const TOKEN_HINT = " (is INCIDENTGRAPH_TOKEN right?)";

function codes(errors: readonly { message: string; extensions?: { code?: unknown } }[]): string {
  return errors.map((e) => `${String(e.extensions?.code ?? "ERROR")}: ${e.message}`).join("; ");
}

/** What went wrong, in one line, for a person: never a stack trace. */
function explain(error: unknown, config: Pick<Settings, "httpUrl" | "wsUrl">): string {
  if (error instanceof Refusal) return error.message;
  if (CombinedGraphQLErrors.is(error)) {
    const refused = error.errors.some((e) => e.extensions?.code === "UNAUTHENTICATED");
    return `${config.httpUrl} refused the request: ${codes(error.errors)}${refused ? TOKEN_HINT : ""}`;
  }
  if (ServerError.is(error)) {
    let detail = error.bodyText.slice(0, 200);
    try {
      const body = JSON.parse(error.bodyText) as { errors?: { message: string }[] };
      if (body.errors?.length) detail = codes(body.errors);
    } catch {
      // not JSON: the start of the body says enough
    }
    const hint = error.statusCode === 401 ? TOKEN_HINT : "";
    return `${config.httpUrl} answered HTTP ${error.statusCode}: ${detail}${hint}`;
  }
  if (error && typeof error === "object" && "code" in error && typeof error.code === "number") {
    // graphql-ws hands over the WebSocket's close event as it is.
    const reason = "reason" in error && error.reason ? ` ${String(error.reason)}` : "";
    const hint = REFUSED.has(error.code) ? TOKEN_HINT : "";
    return `${config.wsUrl} closed the WebSocket with ${error.code}${reason}${hint}`;
  }
  if (error instanceof Error) {
    const cause = error.cause as { code?: string; message?: string } | undefined;
    if (error.message === "fetch failed" && cause) {
      return `cannot reach ${config.httpUrl}: ${cause.code ?? cause.message ?? "network error"}`;
    }
    if (error.message === "Socket closed") return `cannot reach ${config.wsUrl}`;
    const closed = /^Socket closed with event (\d+)/.exec(error.message);
    const hint = closed && REFUSED.has(Number(closed[1])) ? TOKEN_HINT : "";
    return `${error.message}${hint}`;
  }
  if (error && typeof error === "object" && "message" in error) {
    // the `ws` package's error event: the socket could not be opened at all.
    return `cannot reach ${config.wsUrl}: ${String(error.message)}`;
  }
  return String(error);
}

// Node 20 has no WebSocket of its own (browsers and Node 22 do): graphql-ws opens its
// sockets with the global one, and Apollo's link checks a failed socket's state against it.
if (!("WebSocket" in globalThis)) Object.assign(globalThis, { WebSocket });

async function main(config: Settings): Promise<void> {
  const socket = createClient({
    url: config.wsUrl,
    connectionParams: { authorization: `Bearer ${config.token}` },
    retryAttempts: 5,
    shouldRetry: (event) =>
      !(event && typeof event === "object" && "code" in event && REFUSED.has(event.code as number)),
  });
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.split(
      ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
      new GraphQLWsLink(socket),
      new HttpLink({
        uri: config.httpUrl,
        headers: { authorization: `Bearer ${config.token}` },
      }),
    ),
  });

  const active = new Map<string, DashboardIncidentFragment>();
  const held: DashboardIncidentFragment[] = [];
  let listed = false;
  let seen = 0;
  let finish!: (error?: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => (error === undefined ? resolve() : reject(error));
  });
  // Awaited once the list is printed; a failure before then must not count as unhandled.
  finished.catch(() => undefined);

  const show = (incident: DashboardIncidentFragment): void => {
    const ended = ENDED.has(incident.status);
    if (ended) active.delete(incident.id);
    else active.set(incident.id, incident);
    const note = ended ? "no longer active; " : "";
    console.log(`changed  ${row(incident)}  (${note}${active.size} active)`);
    seen += 1;
    if (config.exitAfter !== null && seen >= config.exitAfter) finish();
  };

  const live = client.subscribe({ query: IncidentsChangedDocument }).subscribe({
    next: ({ data, error }) => {
      if (error) return finish(error);
      if (!data) return;
      if (listed) show(data.incidentsChanged);
      else held.push(data.incidentsChanged);
    },
    error: (error: unknown) => finish(error),
    complete: () => finish(new Refusal("the server ended the subscription")),
  });

  try {
    let after: string | null = null;
    let total = 0;
    do {
      const result = await client.query({
        query: ActiveIncidentsDocument,
        variables: { first: PAGE_SIZE, after },
        fetchPolicy: "network-only",
      });
      if (!result.data) throw result.error ?? new Refusal("the server sent no data");
      const page: ActiveIncidentsQuery["incidents"] = result.data.incidents;
      total = page.totalCount;
      for (const { node } of page.edges) active.set(node.id, node);
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after !== null);

    console.log(`${config.httpUrl}: ${total} active incident${total === 1 ? "" : "s"}`);
    for (const incident of active.values()) console.log(`  ${row(incident)}`);
    const until = config.exitAfter === null ? "" : ` until ${config.exitAfter} changes`;
    console.log(`watching incidentsChanged${until}`);
    listed = true;
    for (const incident of held.splice(0)) show(incident);

    await finished;
  } finally {
    live.unsubscribe();
    client.stop();
    await socket.dispose();
  }
}

let config: Settings;
try {
  config = settings();
} catch (error) {
  console.error(`dashboard: ${explain(error, { httpUrl: "", wsUrl: "" })}`);
  process.exit(2);
}
main(config).catch((error: unknown) => {
  console.error(`dashboard: ${explain(error, config)}`);
  process.exitCode = 1;
});
