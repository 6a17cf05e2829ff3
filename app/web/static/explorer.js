// GraphiQL with the explorer plugin, served by incidentgraph itself (no CDN). The token is
// taken from the page's fragment (#token=..., then removed from the address bar) or typed
// in, kept in this tab's sessionStorage, and sent as the Authorization header and in the
// WebSocket's connection_init; it never travels in a URL to the server.
(function () {
  "use strict";
  const TOKEN_KEY = "incidentgraph-graphiql-token";
  const $ = (id) => document.getElementById(id);

  function takeToken() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const fromFragment = params.get("token");
    if (fromFragment) {
      sessionStorage.setItem(TOKEN_KEY, fromFragment.trim());
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askForToken() {
    $("ig-login").hidden = false;
    $("ig-token").value = "";
    $("ig-token").focus();
  }

  $("ig-login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("ig-token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    location.reload();
  });
  $("ig-change").addEventListener("click", askForToken);

  const token = takeToken();
  if (!token) {
    askForToken();
    return;
  }
  $("ig-who").textContent = "token " + token.slice(0, 8) + "…";
  const socket = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
  const authorization = "Bearer " + token;
  const fetcher = GraphiQL.createFetcher({
    url: location.origin + "/graphql",
    headers: { Authorization: authorization },
    wsClient: graphqlWs.createClient({
      url: socket,
      connectionParams: { authorization: authorization },
      lazy: true,
    }),
  });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  ReactDOM.createRoot($("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: "# Welcome to incidentgraph. Try:\n{\n  incidents(first: 5) {\n    totalCount\n    edges { node { reference title status priority } }\n  }\n}\n",
    })
  );
})();
