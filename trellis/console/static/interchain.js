// Interchain view (#/interchain): this chain's clients of other chains, connections, channels with their pending
// packets, and the hub registry when this chain is a hub.

const PACKET_PAGE = 100; // the API's page bound: a channel with more pending packets shows "100+"

async function limited(items, n, fn) {
  const out = new Array(items.length);
  for (let i = 0; i < items.length; i += n) {
    const got = await Promise.all(items.slice(i, i + n).map(fn));
    got.forEach((v, j) => (out[i + j] = v));
  }
  return out;
}

function statusBadge(api, s) {
  const cls = s === "active" || s === "open" || s === "OPEN" ? "badge ok" : s === "frozen" || s === "expired" || s === "retired" ? "badge bad" : "badge warn";
  return api.el("span", { class: cls, text: s });
}

export async function render(root, params, api) {
  const { el, table, link, hexShort } = api;
  const { signal } = params;
  root.append(el("h1", { text: "Interchain" }), api.loading());
  const [clients, channels, hub] = await Promise.all([
    api.get("/v1/interchain/clients", { signal }).catch((e) => e),
    api.get("/v1/interchain/channels", { signal }).catch((e) => e),
    api.get("/v1/hub/chains", { signal }).catch((e) => e),
  ]);
  root.querySelector('[data-testid="loading"]')?.remove();

  // -- clients
  root.append(el("h2", { text: "Clients (light clients of other chains)" }));
  if (clients instanceof Error) root.append(api.errorBox(clients));
  else {
    root.append(
      table(
        ["Client", "Chain", "Status", "Latest height", "Trusting period", "Genesis"],
        clients.clients.map((c) => ({
          attrs: { "data-testid": "client-row", "data-client": c.client_id, "data-status": c.status },
          cells: [
            c.client_id,
            c.chain_id,
            [statusBadge(api, c.status), c.frozen_height ? ` frozen at ${c.frozen_height}` : ""],
            String(c.latest_height),
            `${Math.round(c.trusting_period_ms / 3600000)} h`,
            el("span", { class: "hash", title: c.genesis_hash, text: hexShort(c.genesis_hash) }),
          ],
        })),
        "no clients on this chain",
      ),
    );
  }

  // -- channels and their connections
  let connections = [];
  root.append(el("h2", { text: "Channels" }));
  if (channels instanceof Error) root.append(api.errorBox(channels));
  else {
    const pending = await limited(channels.channels, 4, (ch) =>
      api
        .get(`/v1/interchain/channels/${encodeURIComponent(ch.port)}/${encodeURIComponent(ch.channel)}/packets?limit=${PACKET_PAGE}`, { signal })
        .catch((e) => e),
    );
    root.append(
      table(
        ["Port / channel", "State", "Order", "Connection", "Counterparty", "Next send / recv / ack", "Pending packets"],
        channels.channels.map((ch, i) => {
          const p = pending[i];
          const count = p instanceof Error ? null : p.packets.length;
          const more = !(p instanceof Error) && p.next_from_seq !== null && p.next_from_seq !== undefined;
          return {
            attrs: {
              "data-testid": "channel-row",
              "data-channel": `${ch.port}/${ch.channel}`,
              "data-pending": count === null ? "" : String(count),
            },
            cells: [
              `${ch.port} / ${ch.channel}`,
              statusBadge(api, ch.state),
              ch.order,
              ch.connection_id,
              `${ch.counterparty_port} / ${ch.counterparty_channel}`,
              `${ch.next_sequence_send} / ${ch.next_sequence_recv} / ${ch.next_sequence_ack}`,
              p instanceof Error ? api.errorBox(p) : `${count}${more ? "+" : ""}`,
            ],
          };
        }),
        "no channels on this chain",
      ),
    );
    const ids = [...new Set(channels.channels.map((c) => c.connection_id).filter((x) => x))];
    connections = await limited(ids, 4, (id) => api.get(`/v1/interchain/connections/${encodeURIComponent(id)}`, { signal }).catch((e) => e));
  }

  root.append(el("h2", { text: "Connections (those the channels use)" }));
  root.append(
    table(
      ["Connection", "State", "Client", "Counterparty client", "Counterparty connection", "Version"],
      connections
        .filter((c) => !(c instanceof Error))
        .map((c) => ({
          attrs: { "data-testid": "connection-row", "data-connection": c.connection_id },
          cells: [c.connection_id, statusBadge(api, c.state), c.client_id, c.counterparty_client_id, c.counterparty_connection_id, c.version],
        })),
      "no connections in use",
    ),
    ...connections.filter((c) => c instanceof Error).map((c) => api.errorBox(c)),
  );

  // -- the hub registry
  root.append(el("h2", { text: "Hub registry" }));
  if (hub instanceof Error) root.append(api.errorBox(hub));
  else if (!hub.count) root.append(el("p", { class: "muted", text: "no sub-chains registered: this chain is not a hub" }));
  else {
    root.append(
      table(
        ["Chain", "Operator", "Status", "Registered", "Client", "Connection", "Channels"],
        hub.chains.map((c) => ({
          attrs: { "data-testid": "hub-chain-row", "data-chain": c.chain_id, "data-status": c.status },
          cells: [
            c.chain_id,
            c.operator_org,
            statusBadge(api, c.status),
            link(`block/${c.registered_height}`, String(c.registered_height)),
            c.client_id || "—",
            c.connection_id || "—",
            c.channels.map((pc) => `${pc.port}/${pc.channel}`).join(", ") || "—",
          ],
        })),
      ),
      el("p", {
        class: "muted",
        text: `${hub.count} registered sub-chain(s)` + (hub.next_cursor ? `; showing the first ${hub.chains.length}` : ""),
      }),
    );
  }
  root.append(
    el("p", {
      class: "muted",
      text: `read at height ${clients instanceof Error ? "?" : clients.height}. The relayer runs outside the node: see its status with 'trellis relayer status'.`,
    }),
  );
}
